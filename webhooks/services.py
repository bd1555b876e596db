"""Webhook writes: endpoints, the event consumer that queues deliveries, and delivering them.

Delivery is at least once, and exactly once as a receiver sees it when it keeps the
``MES-Delivery-Id`` header (the same on every retry of one event to one endpoint): a worker killed
between sending and recording the answer leaves the claim to run out, and the delivery is sent again.
A receiver that is slow or down only ever holds a task worker for one timeout; polling runs in its
own processes and never waits for it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from events.models import Event
from events.types import is_known
from mes.engine import enqueue_coalesced
from mes.outgoing import OutgoingURLRefused, check_outgoing_url, describe_connection_error
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.signing import SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

USER_AGENT = "LabMES-Webhooks/1"
EXCERPT = 500


class EndpointInvalid(ValueError):
    """The endpoint cannot be saved; the message says why (shown to staff as a 400)."""


def _check(*, url: str, event_types: list[str]) -> None:
    try:
        check_outgoing_url(url)
    except OutgoingURLRefused as exc:
        raise EndpointInvalid(f"url: {exc}") from None
    unknown = [t for t in event_types if not is_known(t)]
    if unknown:
        raise EndpointInvalid(f"event_types: unknown event type(s) {', '.join(unknown)}")


def webhook_endpoint_create(
    *, name: str, url: str, event_types: list[str] | None = None, active: bool = True, user=None
) -> Endpoint:
    """Staff register a receiver; the URL is checked against private/loopback ranges first."""
    event_types = list(event_types or [])
    _check(url=url, event_types=event_types)
    return Endpoint.objects.create(
        name=name, url=url, event_types=event_types, active=active, created_by=user if user else None
    )


def webhook_endpoint_update(*, endpoint: Endpoint, **fields) -> Endpoint:
    allowed = {"name", "url", "event_types", "active"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"cannot change {sorted(unknown)}")
    for key, value in fields.items():
        setattr(endpoint, key, value)
    _check(url=endpoint.url, event_types=list(endpoint.event_types or []))
    endpoint.save()
    return endpoint


def webhook_event_handle(event: Event) -> None:
    """The events consumer: one delivery per active endpoint that wants the type (inside the receipt's
    transaction, so a delivery is queued exactly once per event and endpoint)."""
    endpoints = [e for e in Endpoint.objects.filter(active=True) if e.wants(event.type)]
    if not endpoints:
        return
    Delivery.objects.bulk_create([Delivery(endpoint=endpoint, event=event) for endpoint in endpoints])
    enqueue_coalesced("webhooks.tasks.webhooks_deliver_due", key="webhooks.deliver", ttl=30)


# --- delivering ---------------------------------------------------------------------------------


def _timeout() -> float:
    return float(settings.WEBHOOKS_TIMEOUT)


def backoff(attempt: int) -> timedelta:
    """Delay before attempt ``attempt + 1``: base · 2^(attempt-1), at most WEBHOOKS_BACKOFF_MAX."""
    seconds = float(settings.WEBHOOKS_BACKOFF_BASE) * 2 ** max(0, attempt - 1)
    return timedelta(seconds=min(seconds, float(settings.WEBHOOKS_BACKOFF_MAX)))


def claim_duration() -> timedelta:
    """How long an attempt holds its delivery: the request's connect and read timeouts, with room to
    record the answer. A worker killed mid-attempt frees it when this runs out."""
    return timedelta(seconds=_timeout() * 2 + 5)


def _claim(delivery_id: uuid.UUID) -> tuple[Delivery, Attempt] | None:
    """Take the delivery for one attempt (no other worker sends it until the claim runs out)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            Delivery.objects.filter(pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=now + claim_duration(), attempts=F("attempts") + 1)
        )
        if not claimed:
            return None
        delivery = Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
        attempt = Attempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            error="no answer recorded: the worker stopped during the attempt",
        )
    return delivery, attempt


def body_for(delivery: Delivery) -> bytes:
    return json.dumps(delivery.event.as_message(), sort_keys=True, separators=(",", ":")).encode()


def _send(delivery: Delivery) -> tuple[int | None, str, str]:
    """(status code or None, error, response excerpt)."""
    endpoint = delivery.endpoint
    body = body_for(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "MES-Event-Id": str(delivery.event.id),
        "MES-Event-Type": delivery.event.type,
        "MES-Delivery-Id": str(delivery.id),
        SIGNATURE_HEADER: sign(secret=endpoint.secret, body=body),
    }
    try:
        check_outgoing_url(endpoint.url)  # again: the name may resolve elsewhere since it was saved
        response = requests.post(
            endpoint.url, data=body, headers=headers, timeout=(min(3.0, _timeout()), _timeout()),
            allow_redirects=False,
        )  # fmt: skip
    except OutgoingURLRefused as exc:
        return None, f"refused to connect: {exc}", ""
    except requests.RequestException as exc:
        return None, describe_connection_error(exc), ""
    return (
        response.status_code,
        "" if response.ok else f"HTTP {response.status_code}",
        response.text[:EXCERPT],
    )


def _record(
    delivery: Delivery, attempt: Attempt, status: int | None, error: str, excerpt: str, ms: int
) -> str:
    now = timezone.now()
    Attempt.objects.filter(pk=attempt.pk).update(
        status_code=status, error=error, response_ms=ms, response_excerpt=excerpt
    )
    fields: dict = {"claimed_until": None, "last_status": status, "last_error": error}
    if status is not None and 200 <= status < 300:
        fields.update(state=Delivery.State.DELIVERED, delivered_at=now)
    else:
        retry_at = now + backoff(delivery.attempts)
        window = timedelta(hours=float(settings.WEBHOOKS_RETRY_HOURS))
        if error.startswith("refused to connect") or retry_at - delivery.created_at > window:
            fields["state"] = Delivery.State.FAILED
        else:
            fields["next_attempt_at"] = retry_at
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return fields.get("state", Delivery.State.PENDING)


def webhook_deliver(*, delivery_id: uuid.UUID | str) -> str | None:
    """One attempt at one delivery, if it is due and nobody else holds it; returns its new state."""
    claimed = _claim(uuid.UUID(str(delivery_id)))
    if claimed is None:
        return None
    delivery, attempt = claimed
    started = time.monotonic()
    status, error, excerpt = _send(delivery)
    ms = int((time.monotonic() - started) * 1000)
    state = _record(delivery, attempt, status, error, excerpt, ms)
    log = logger.info if state == Delivery.State.DELIVERED else logger.warning
    log(
        "webhook %s to %s attempt %d: %s",
        delivery.event.type,
        delivery.endpoint.name,
        attempt.number,
        status or error,
        extra={
            "event_id": str(delivery.event.id),
            "delivery_id": str(delivery.id),
            "job_id": str(delivery.event.job_id or "") or None,
        },
    )
    return state


def _deliver_in_thread(delivery_id) -> str | None:
    try:
        return webhook_deliver(delivery_id=delivery_id)
    finally:
        connection.close()  # this thread's own connection


def due_delivery_ids(*, limit: int = 50) -> list[uuid.UUID]:
    now = timezone.now()
    return list(
        Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def webhooks_deliver_due(*, limit: int = 50) -> int:
    """Send every due delivery, several receivers at once so one slow receiver holds up no other."""
    ids = due_delivery_ids(limit=limit)
    workers = int(settings.WEBHOOKS_CONCURRENCY)
    if workers <= 1 or len(ids) <= 1:
        states = [webhook_deliver(delivery_id=pk) for pk in ids]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(ids)), thread_name_prefix="webhook") as pool:
            states = list(pool.map(_deliver_in_thread, ids))
    if Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=timezone.now()).exists():
        enqueue_coalesced("webhooks.tasks.webhooks_deliver_due", key="webhooks.deliver", ttl=30)
    return sum(1 for state in states if state is not None)


def webhook_redeliver(*, delivery: Delivery) -> Delivery:
    """Staff send a delivery again (delivered or failed): same id, so receivers may drop a repeat."""
    Delivery.objects.filter(pk=delivery.pk).update(
        state=Delivery.State.PENDING, next_attempt_at=timezone.now(), claimed_until=None
    )
    enqueue_coalesced("webhooks.tasks.webhooks_deliver_due", key="webhooks.deliver", ttl=30)
    delivery.refresh_from_db()
    return delivery
