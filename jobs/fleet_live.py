"""The fleet board's live updates send only what changed since the client's last version.

Every answer to the board's live request (``/fleet/live/``, from htmx, mes/static/mes/live.js) carries
a version (``X-Live-Version``): a digest of what the client now shows (the filters, view and page, the
machines listed, a fingerprint of each card and of the queue summary). The fingerprints behind a
version are kept in the cache for ``SNAPSHOT_SECONDS`` (8 bytes a card). The client sends the version it
shows with its next request, and gets:

- ``204 No Content`` when nothing changed: nothing is sent, nothing is swapped;
- only the changed cards (table rows in the table view) and, when it changed, the queue summary, as
  htmx out-of-band swaps (``HX-Reswap: none``, each element replaces the one with its id);
- the whole fragment when the client has no version, its version is unknown or expired, or the list
  itself changed (a machine matches the filters now, another one no longer, the page moved).

A card's fingerprint covers everything the card shows except the "Last seen" time, which moves with
every poll of every printer: it is refreshed whenever anything else on the card changes (and a card
whose printer stops answering changes when it turns stale).
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from jobs.fleet import FleetCard
from mes.live import VERSION_HEADER, client_version, content_version, unchanged

SNAPSHOT_SECONDS = 120  # a client further behind gets the whole fragment again
CACHE_PREFIX = "fleet-live:"


def _rounded(value, digits: int):
    return None if value is None else round(float(value), digits)


def card_fingerprint(card: FleetCard) -> bytes:
    """8 bytes that change when anything the card (or its table row) shows changes, but "Last seen"."""
    job = card.job
    parts = (
        card.machine.name,
        card.machine.active,
        card.machine.driver,
        card.status,
        card.state.status_text,
        [(t.name, _rounded(t.actual, 1), _rounded(t.target, 0)) for t in card.temperatures],
        None
        if job is None
        else (
            str(job.pk),
            job.name,
            job.state,
            job.requested_action,
            job.owner.username if job.owner else "",
            job.thumbnail.name,
        ),
        card.job_file,
        _rounded(card.progress, 1),
        card.time_left,
        list(card.errors),
        card.awaiting_bed_clear,
        [
            (s.tool, s.material, s.colour_name, s.colour_hex, _rounded(s.remaining_grams, 0), s.low_stock)
            for s in card.spools
        ],
        sorted((str(key), str(value)) for key, value in card.maintenance.items()),
        sorted(card.controls),
        card.stale,
        card.last_seen is None,
        card.type_name,
        card.tags,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()


def fleet_live_response(request: HttpRequest, context: dict) -> HttpResponse:
    """The board's live fragment: 204, the changed cards out of band, or all of it (see the module)."""
    cards: list[FleetCard] = context["cards"]
    # Without the request: its context processors (notifications…) are not needed here.
    summary_html = render_to_string("fleet/_summary.html", {**context, "user": request.user})
    summary = content_version(summary_html.encode())
    ids = [str(card.machine.pk) for card in cards]
    layout = hashlib.blake2b(
        repr((request.GET.urlencode(), context.get("table"), context.get("page_number"), ids)).encode(),
        digest_size=12,
    ).hexdigest()
    fingerprints = b"".join(card_fingerprint(card) for card in cards)
    version = hashlib.blake2b(layout.encode() + summary.encode() + fingerprints, digest_size=12).hexdigest()
    known = client_version(request)
    if known == version:
        return unchanged(version)
    before = cache.get(CACHE_PREFIX + known) if known else None
    if request.headers.get("HX-Request") == "true":  # only htmx comes back with the version
        cache.set(CACHE_PREFIX + version, (layout, summary, fingerprints), SNAPSHOT_SECONDS)
    context = {**context, "summary_html": summary_html}
    if before is not None and before[0] == layout:
        old = before[2]
        changed = [
            card for i, card in enumerate(cards) if old[i * 8 : i * 8 + 8] != fingerprints[i * 8 : i * 8 + 8]
        ]
        response = render(
            request,
            "fleet/_changes.html",
            {**context, "cards": changed, "summary_changed": before[1] != summary},
        )
        response["HX-Reswap"] = "none"  # only the out-of-band elements are swapped
    else:
        response = render(request, "fleet/_board.html", context)
    response[VERSION_HEADER] = version
    response["Cache-Control"] = "no-store"
    return response
