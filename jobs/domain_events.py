"""Which domain event (events app) a job change is, and its payload. Written next to the JobEvent.

JobEvent stays the job's own audit trail (every request and update); the events app carries the
catalogue other systems subscribe to. Both rows are written in the same transaction.
"""

from __future__ import annotations

from events.models import Event
from events.services import event_record as domain_event_record
from events.types import EventType
from jobs.states import ACTIVE_STATES, ActorKind, JobState

S = JobState
# Progress milestones announced once each while a job prints.
MILESTONES = (25, 50, 75)


def transition_type(from_state: str, to_state: str) -> str | None:
    """The catalogue type of a job state change, None for the internal steps nobody subscribes to."""
    if to_state in (S.QUEUED, S.AWAITING_APPROVAL):
        if from_state == S.FORWARDED:
            return EventType.FEDERATION_RETURNED
        if from_state in ACTIVE_STATES:
            return EventType.JOB_REQUEUED
        if from_state == S.AWAITING_APPROVAL:
            return EventType.JOB_APPROVED
        return None  # new submissions are announced by job.submitted/job.accepted
    if to_state == S.PRINTING:
        return EventType.JOB_RESUMED if from_state in (S.PAUSED, S.UNKNOWN) else EventType.JOB_STARTED
    return {
        S.DISPATCHING: EventType.JOB_DISPATCHED,
        S.UPLOADED: None,
        S.PAUSED: EventType.JOB_PAUSED,
        S.UNKNOWN: EventType.JOB_LOST,
        S.FORWARDED: EventType.FEDERATION_FORWARDED,
        S.COMPLETED: EventType.JOB_FINISHED,
        S.FAILED: EventType.JOB_FAILED,
        S.CANCELLED: EventType.JOB_CANCELLED,
    }.get(to_state)


def _actor_name(actor, actor_kind: str) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return "" if actor_kind == ActorKind.USER else actor_kind


def job_payload(job, **more) -> dict:
    """What every job event carries (payload version 1)."""
    payload = {
        "name": job.name,
        "file": job.original_name,
        "state": job.state,
        "owner": job.owner.get_username() if job.owner_id and job.owner else None,
        "machine_id": str(job.machine_id) if job.machine_id else None,
        "progress": job.progress,
    }
    payload.update(more)
    return payload


def job_domain_event(*, job, event_type: str, actor=None, actor_kind: str = "", **more) -> None:
    domain_event_record(
        type=event_type,
        payload=job_payload(job, **more),
        actor_kind=actor_kind,
        actor=_actor_name(actor, actor_kind),
        machine_id=job.machine_id,
        job_id=job.pk,
        user_id=job.owner_id,
    )


def job_transition_event(*, job, from_state: str, to_state: str, actor, actor_kind: str, reason: str) -> None:
    event_type = transition_type(from_state, to_state)
    if event_type is None:
        return
    more: dict = {"from_state": from_state, "reason": reason}
    if to_state in (S.COMPLETED, S.FAILED, S.CANCELLED) and job.started_at and job.finished_at:
        more["print_seconds"] = round((job.finished_at - job.started_at).total_seconds(), 1)
        filament = (job.metadata or {}).get("filament") or {}
        grams = sum(float((use or {}).get("weight_g") or 0) for use in filament.values())
        if grams and to_state == S.COMPLETED:
            more["filament_grams"] = round(grams, 2)
    job_domain_event(job=job, event_type=event_type, actor=actor, actor_kind=actor_kind, **more)


def milestones_between(old: float | None, new: float | None) -> list[int]:
    """Milestones in (old, new]: the cheap check, before any database read."""
    if new is None:
        return []
    low = old or 0.0
    return [m for m in MILESTONES if low < m <= new]


def milestones_crossed(job, old: float | None, new: float | None) -> list[int]:
    """Milestones this progress report reaches for the first time (a printer that reports a lower
    value again does not announce them twice)."""
    crossed = milestones_between(old, new)
    if not crossed:
        return []

    announced = set(
        Event.objects.filter(job_id=job.pk, type=EventType.JOB_PROGRESS).values_list(
            "payload__milestone", flat=True
        )
    )
    return [m for m in crossed if m not in announced]
