"""The metrics consumer: totals from events, counted once, in the database (they survive restarts)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from events.models import Event
from events.types import EventType
from mes.instruments import DISPATCH_LATENCY
from metrics.models import Tally

ENDED = {EventType.JOB_FINISHED: "jobs_finished", EventType.JOB_FAILED: "jobs_failed"}


def tally_add(*, name: str, label: str = "", amount: float = 1.0) -> None:
    if not Tally.objects.filter(name=name, label=label).update(value=F("value") + amount):
        Tally.objects.create(name=name, label=label, value=amount)


def metrics_event_handle(event: Event) -> None:
    tally_add(name="events", label=event.type)
    payload = event.payload or {}
    if event.type in ENDED:
        tally_add(name=ENDED[event.type])
    if event.type in (EventType.JOB_FINISHED, EventType.JOB_FAILED, EventType.JOB_CANCELLED):
        seconds = payload.get("print_seconds")
        if seconds:
            tally_add(name="print_seconds", label=event.type.split(".")[1], amount=float(seconds))
    if event.type == EventType.JOB_FINISHED and payload.get("filament_grams"):
        tally_add(name="filament_grams", amount=float(payload["filament_grams"]))
    if event.type == EventType.JOB_STARTED and event.job_id:
        dispatched = (
            Event.objects.filter(
                job_id=event.job_id, type=EventType.JOB_DISPATCHED, sequence__lt=event.sequence
            )
            .order_by("-sequence")
            .values_list("occurred_at", flat=True)
            .first()
        )
        if dispatched is not None:
            seconds = max(0.0, (event.occurred_at - dispatched).total_seconds())
            # Observed once the receipt is committed (a rolled-back handling observes nothing).
            transaction.on_commit(lambda: DISPATCH_LATENCY.observe(seconds))
