"""Writing events (inside the caller's transaction) and handing them to each consumer exactly once."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from events.consumers import Consumer, registry
from events.models import Event, Receipt
from events.types import is_known
from mes.engine import enqueue_coalesced

logger = logging.getLogger("mes.events")

BATCH = 200


def _uuid(value: object) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def event_record(
    *,
    type: str,
    payload: dict | None = None,
    version: int = 1,
    actor_kind: str = "",
    actor: str = "",
    machine_id: object = None,
    job_id: object = None,
    user_id: int | None = None,
) -> Event | None:
    """Write one event in the current transaction (so it exists exactly when the change does).

    Call it next to the write it describes, inside the same ``transaction.atomic()``; a rollback
    takes the event with it. Consumers are nudged after the commit. None with EVENTS_ENABLED=false.
    """
    if not is_known(type):
        raise ValueError(f"unknown event type {type!r}; add it to events.types or register_type() it")
    if not settings.EVENTS_ENABLED:
        return None
    event = Event.objects.create(
        type=type,
        version=version,
        actor_kind=actor_kind,
        actor=(actor or "")[:150],
        machine_id=_uuid(machine_id),
        job_id=_uuid(job_id),
        user_id=user_id,
        payload=payload or {},
    )
    transaction.on_commit(lambda: _after_commit(event), robust=True)
    return event


def event_record_many(*, events: list[dict]) -> list[Event]:
    """``event_record`` for many events at once (a batch submission); same keywords per dict."""
    rows = []
    for spec in events:
        spec = dict(spec)
        if not is_known(spec["type"]):
            raise ValueError(f"unknown event type {spec['type']!r}")
        spec["machine_id"] = _uuid(spec.get("machine_id"))
        spec["job_id"] = _uuid(spec.get("job_id"))
        spec["actor"] = (spec.get("actor") or "")[:150]
        spec["payload"] = spec.get("payload") or {}
        rows.append(Event(**spec))
    if not settings.EVENTS_ENABLED:
        return []
    created = Event.objects.bulk_create(rows, batch_size=500)
    transaction.on_commit(lambda: [_after_commit(event) for event in created], robust=True)
    return created


def _after_commit(event: Event) -> None:
    # One structured log line per event (JSON when LOG_FORMAT=json): machine and job ids as fields.
    logger.info(
        "event %s%s%s",
        event.type,
        f" machine={event.machine_id}" if event.machine_id else "",
        f" job={event.job_id}" if event.job_id else "",
        extra={
            "event_id": str(event.id),
            "event_type": event.type,
            "machine_id": str(event.machine_id) if event.machine_id else None,
            "job_id": str(event.job_id) if event.job_id else None,
            "actor": event.actor or event.actor_kind,
            "data": json.loads(json.dumps(event.payload, default=str)),
        },
    )
    if registry().all():
        enqueue_coalesced("events.tasks.events_dispatch", key="events.dispatch", ttl=30)


def _pending(consumer: Consumer, limit: int) -> list[Event]:
    events = Event.objects.exclude(receipts__consumer=consumer.name)
    if consumer.types is not None:
        events = events.filter(type__in=consumer.types)
    return list(events.order_by("sequence")[:limit])


def _handle_one(consumer: Consumer, event: Event) -> bool:
    """Receipt and handler in one transaction: both or neither. False when another worker had it."""
    try:
        with transaction.atomic():
            Receipt.objects.create(consumer=consumer.name, event=event)
            consumer.handle(event)
    except IntegrityError:
        if Receipt.objects.filter(consumer=consumer.name, event=event).exists():
            return False  # a concurrent run handled it
        raise
    return True


def events_dispatch_consumer(*, consumer: Consumer, limit: int = BATCH) -> tuple[int, int]:
    """Hand the consumer's pending events to it in order; returns (handled now, failed).

    An event whose handling raises is logged and left without a receipt (it is tried again on the
    next run); the events after it are still handled, so one bad event never stalls a consumer."""
    handled = failed = 0
    for event in _pending(consumer, limit):
        try:
            if _handle_one(consumer, event):
                handled += 1
        except Exception:
            failed += 1
            logger.exception(
                "event consumer %s failed on event %s (%s); it is tried again on the next run",
                consumer.name,
                event.id,
                event.type,
            )
    return handled, failed


def events_dispatch(*, limit: int = BATCH) -> dict[str, int]:
    """Every consumer's pending events: {consumer: events handled now, or -1 when some failed}."""
    result = {}
    for consumer in registry().all():
        handled, failed = events_dispatch_consumer(consumer=consumer, limit=limit)
        result[consumer.name] = -1 if failed else handled
    return result


def events_prune(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Events every consumer handled are kept a month (history, redelivery), then dropped."""
    cutoff = timezone.now() - older_than
    names = [c.name for c in registry().all()]
    old = Event.objects.filter(occurred_at__lt=cutoff)
    for name in names:
        old = old.filter(receipts__consumer=name)
    deleted, _ = Event.objects.filter(sequence__in=old.values("sequence")).delete()
    return deleted
