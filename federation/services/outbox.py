"""The outbox: signed events to a partner, retried with exponential backoff, and their retention.

Connections and jobs depend on it; it depends on neither (the inbox, which applies what partners
send, sits above them).
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from federation.client import FederationError, response_reason, signed_request
from federation.models import FederationEvent, InboxRecord, Partner
from mes.engine import enqueue
from mes.leases import default_lease_store, new_owner_id

logger = logging.getLogger(__name__)

BACKOFF_BASE = dt.timedelta(seconds=15)
BACKOFF_MAX = dt.timedelta(hours=1)
CONNECTION_TYPES = {
    FederationEvent.Type.CONNECTION_APPROVED,
    FederationEvent.Type.CONNECTION_REJECTED,
    FederationEvent.Type.CONNECTION_STOPPED,
}
JOB_TYPES = set(FederationEvent.Type.values) - {str(t) for t in CONNECTION_TYPES}


def event_enqueue(
    *, partner: Partner, type: str, job_ref: str = "", payload: dict | None = None
) -> FederationEvent:
    """Append an event to the partner's outbox with the next sequence number for that job; a delivery
    task is queued for when the transaction commits."""
    if type not in FederationEvent.Type.values:
        raise ValidationError({"type": f"Unknown event type {type!r}."})
    with transaction.atomic():
        Partner.objects.select_for_update().filter(pk=partner.pk).first()  # serializes sequence numbers
        last = partner.outbox.filter(job_ref=job_ref).aggregate(last=Max("sequence"))["last"] or 0
        event = FederationEvent.objects.create(
            partner=partner, type=type, job_ref=job_ref, sequence=last + 1, payload=payload or {}
        )
        # Deliver soon after commit, not only at the next periodic run (which remains the retry path).
        enqueue("federation.tasks.deliver_due_events")
        return event


def event_body(event: FederationEvent) -> dict:
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "job_ref": event.job_ref,
        "sequence": event.sequence,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def backoff(attempts: int) -> dt.timedelta:
    """15 s, 30 s, 1 min, … capped at an hour, with ±20 % jitter so partners are not hit in step."""
    delay = min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)
    return delay * random.uniform(0.8, 1.2)


def event_deliver(*, event: FederationEvent) -> bool:
    """Send one event to the partner's inbox; on failure schedule the next attempt. True if delivered."""
    try:
        response = signed_request(
            "POST", event.partner.inbox_url, json_body=event_body(event), idempotency_key=str(event.event_id)
        )
        error = "" if 200 <= response.status_code < 300 else response_reason(response)
    except FederationError as exc:
        error = str(exc)
    now = timezone.now()
    event.attempts += 1
    if not error:
        event.delivered_at = now
        event.last_error = ""
    else:
        event.last_error = error[:500]
        if event.attempts >= settings.FEDERATION_EVENT_MAX_ATTEMPTS:
            event.next_attempt_at = None
            logger.error(
                "Giving up on %s for %s after %s attempts: %s",
                event.type,
                event.partner,
                event.attempts,
                error,
            )
        else:
            event.next_attempt_at = now + backoff(event.attempts)
            logger.warning(
                "Event %s for %s not delivered (attempt %s): %s",
                event.type,
                event.partner,
                event.attempts,
                error,
            )
    event.save(update_fields=["attempts", "delivered_at", "last_error", "next_attempt_at"])
    return not error


OUTBOX_LEASE = "federation:outbox"
OUTBOX_LEASE_TTL = 300


def federation_deliver_due_events(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Deliver due outbox events in order; a failure holds back later events of the same job and
    partner for this run. Stopped partners only get their stop notice. One process delivers at a time
    (a lease), so events are not sent twice in parallel. Returns how many were delivered."""
    store = default_lease_store()
    owner = new_owner_id("federation-outbox")
    if OUTBOX_LEASE not in store.acquire_many([OUTBOX_LEASE], owner=owner, ttl=OUTBOX_LEASE_TTL):
        logger.info("Another process is delivering federation events; skipping this run")
        return 0
    try:
        return _deliver_due(now=now or timezone.now(), limit=limit)
    finally:
        store.release_many([OUTBOX_LEASE], owner=owner)


def _deliver_due(*, now: dt.datetime, limit: int) -> int:
    due = (
        FederationEvent.objects.select_related("partner")
        .filter(delivered_at__isnull=True, next_attempt_at__lte=now)
        .order_by("created_at", "sequence")[:limit]
    )
    blocked_partners: set = set()
    blocked_jobs: set = set()
    delivered = 0
    for event in due:
        key = (event.partner_id, event.job_ref)
        if event.partner_id in blocked_partners or key in blocked_jobs:
            continue
        if event.partner.is_stopped and event.type != FederationEvent.Type.CONNECTION_STOPPED:
            continue
        earlier_pending = FederationEvent.objects.filter(
            partner_id=event.partner_id,
            job_ref=event.job_ref,
            sequence__lt=event.sequence,
            delivered_at__isnull=True,
        ).exists()
        if earlier_pending:
            blocked_jobs.add(key)
            continue
        if event_deliver(event=event):
            delivered += 1
        else:
            blocked_partners.add(event.partner_id)
    return delivered


RECORD_RETENTION = dt.timedelta(days=30)


def federation_records_purge(*, older_than: dt.timedelta = RECORD_RETENTION) -> tuple[int, int]:
    """Delete delivered outbox events and inbox records older than ``older_than``.

    The newest record of each partner and job stays whatever its age: the next sequence number (ours)
    and the stale-event check (theirs) are counted from it. Undelivered events always stay (they are
    still owed). Returns (events, inbox records) deleted.
    """
    cutoff = timezone.now() - older_than

    def superseded(model):
        newer = model.objects.filter(
            partner=OuterRef("partner"), job_ref=OuterRef("job_ref"), sequence__gt=OuterRef("sequence")
        )
        return Exists(newer)

    events, _ = (
        FederationEvent.objects.filter(delivered_at__lt=cutoff).filter(superseded(FederationEvent)).delete()
    )
    inbox, _ = InboxRecord.objects.filter(received_at__lt=cutoff).filter(superseded(InboxRecord)).delete()
    return events, inbox
