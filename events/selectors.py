"""Reads of the event stream."""

from __future__ import annotations

from django.db.models import QuerySet

from events.consumers import registry
from events.models import Event


def event_list(*, types: list[str] | None = None) -> QuerySet[Event]:
    events = Event.objects.all()
    if types:
        events = events.filter(type__in=types)
    return events.order_by("-sequence")


def outbox_depth() -> dict[str, int]:
    """Events each consumer has not handled yet (the metrics' outbox depth)."""
    depth = {}
    for consumer in registry().all():
        pending = Event.objects.exclude(receipts__consumer=consumer.name)
        if consumer.types is not None:
            pending = pending.filter(type__in=consumer.types)
        depth[consumer.name] = pending.count()
    return depth
