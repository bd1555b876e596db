"""Queue operations with bluesky-queueserver parity: move (single/batch), update, remove, clear,
start/stop with a pending flag, and a staff lock. Adding lives in ``jobs.services.submit``."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from jobs import signals
from jobs.exceptions import JobPermissionDenied, JobValidationError, QueueConflict
from jobs.filament import filament_need
from jobs.models import Job, JobEvent, QueueState
from jobs.policy import submission_policies, submission_reasons
from jobs.preflight import machine_fit_reasons, preflight_reasons
from jobs.selectors import candidate_machines, job_can_change, job_constraints
from jobs.services.lifecycle import (
    bump_versions,
    check_version,
    event_record,
    job_transition,
    job_transition_many,
)
from jobs.services.positions import Location, allocate_positions, lock_queue, write_positions
from jobs.services.submit import material_reasons
from jobs.states import ACTIVE_STATES, QUEUE_STATES, ActorKind, JobState
from policies.selectors import training_rules

UPDATABLE_FIELDS = (
    "name",
    "notes",
    "priority",
    "machine_type",
    "material",
    "colour",
    "nozzle_diameter",
    "tags",
    "target_machine",
)
CONSTRAINT_FIELDS = {"machine_type", "material", "colour", "nozzle_diameter", "tags", "target_machine"}


def _require_staff(user, what: str) -> None:
    if not (user and user.is_staff):
        raise JobPermissionDenied(f"only lab staff may {what}")


def _ids(jobs) -> list[uuid.UUID]:
    ids = [j.pk if isinstance(j, Job) else uuid.UUID(str(j)) for j in jobs]
    if len(set(ids)) != len(ids):
        raise JobValidationError("the same job is listed more than once")
    if not ids:
        raise JobValidationError("no jobs given")
    return ids


def _lock_waiting(ids: list[uuid.UUID], *, user) -> list[Job]:
    """The jobs, locked, in the order given; every one must exist for this user and be waiting."""
    found = {j.pk: j for j in Job.objects.select_for_update().filter(pk__in=ids)}
    problems = []
    for pk in ids:
        job = found.get(pk)
        if job is None or not job_can_change(user=user, job=job):
            problems.append(f"{pk}: no such job")
        elif job.state not in QUEUE_STATES:
            problems.append(f"{pk}: the job is {job.state}, not waiting in the queue")
    if problems:
        raise QueueConflict("; ".join(problems), reasons=problems)
    return [found[pk] for pk in ids]


@transaction.atomic
def queue_move_batch(*, jobs: list, location: Location, user) -> list[Job]:
    """Move jobs as one block, in the order given, to ``location``. All or none."""
    _require_staff(user, "reorder the queue")
    ids = _ids(jobs)
    lock_queue()
    locked = _lock_waiting(ids, user=user)
    priorities = {j.priority for j in locked}
    if len(priorities) > 1:
        raise QueueConflict(
            "jobs moved together must share one priority (they stay within their priority band)"
        )
    positions = allocate_positions(
        priority=priorities.pop(), location=location, count=len(locked), exclude=tuple(ids)
    )
    for job, position in zip(locked, positions, strict=True):
        job.position = position
        job.version += 1
    write_positions([(job.pk, job.position) for job in locked], bump_version=True)
    bump_versions(queue=True)
    return locked


def queue_move(*, job, location: Location, user) -> Job:
    return queue_move_batch(jobs=[job], location=location, user=user)[0]


@transaction.atomic
def job_update(*, job, user, data: dict, expected_version: int | None = None) -> Job:
    """Change a waiting job in place (same UUID). Constraint changes are pre-flighted again."""
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise JobValidationError(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
    lock_queue()
    locked = _lock_waiting(_ids([job]), user=user)[0]
    check_version(locked, expected_version)
    if "priority" in data and data["priority"] != locked.priority:
        _require_staff(user, "change priorities")
    changed = {}
    for field, value in data.items():
        if field == "nozzle_diameter" and value is not None:
            value = Decimal(str(value))
        if getattr(locked, field) != value:
            old = getattr(locked, field)
            changed[field] = [
                str(old.pk) if hasattr(old, "pk") else old,
                str(value.pk) if hasattr(value, "pk") else value,
            ]
            setattr(locked, field, value)
    if not changed:
        return locked
    if CONSTRAINT_FIELDS & set(changed):
        constraints = job_constraints(job=locked)
        reasons = preflight_reasons(
            candidate_machines(constraints=constraints), metadata=locked.metadata, constraints=constraints
        )
        reasons += material_reasons(constraints=constraints)
        if not reasons and locked.owner is not None:  # the owner's trainings, as at submission
            candidates = candidate_machines(constraints=constraints)
            fitting = [
                c
                for c in candidates
                if not machine_fit_reasons(
                    c, metadata=locked.metadata, constraints=constraints, transient=False
                )
            ]
            policies = submission_policies(user=locked.owner)
            policies.quotas = []  # the job is counted already; only the machines changed
            reasons += submission_reasons(
                policies=policies, rules=training_rules(), fitting=fitting, metadata=locked.metadata
            )
        if reasons:
            raise JobValidationError("the job would fit no machine with these constraints", reasons=reasons)
        if "material" in changed:  # the material names the density that turns lengths into grams
            locked.metadata = {
                **locked.metadata,
                "filament_need": filament_need(metadata=locked.metadata, material=locked.material),
            }
    if "priority" in changed:
        locked.position = allocate_positions(
            priority=locked.priority, location=Location(), count=1, exclude=(locked.pk,)
        )[0]
    locked.version += 1
    locked.save()
    event_record(
        job=locked,
        kind=JobEvent.Kind.UPDATE,
        from_state=locked.state,
        to_state=locked.state,
        actor_kind=ActorKind.USER,
        actor=user,
        extra={"changed": {k: [_jsonable(v) for v in pair] for k, pair in changed.items()}},
    )
    bump_versions(queue=True)
    return locked


def _jsonable(value):
    return str(value) if isinstance(value, Decimal | uuid.UUID) else value


@transaction.atomic
def queue_remove_batch(*, jobs: list, user, reason: str = "") -> list[Job]:
    """Take waiting jobs out of the queue (they are cancelled and kept in the history). All or none."""
    ids = _ids(jobs)
    lock_queue()
    locked = _lock_waiting(ids, user=user)
    return [
        job_transition(
            job=job,
            to_state=JobState.CANCELLED,
            actor_kind=ActorKind.USER,
            actor=user,
            reason=reason or "removed from the queue",
            expected_states=QUEUE_STATES,
        )
        for job in locked
    ]


def queue_remove(*, job, user, reason: str = "") -> Job:
    return queue_remove_batch(jobs=[job], user=user, reason=reason)[0]


@transaction.atomic
def queue_clear(*, user, reason: str = "") -> int:
    """Cancel every waiting job at once (jobs on machines are left alone).

    Through ``job_transition_many``: the same rules, audit and domain events and ``job_state_changed``
    signals as cancelling one job, so a partner lab hears its job was cancelled and OPC UA republishes
    the queue.
    """
    _require_staff(user, "clear the queue")
    lock_queue()
    waiting = list(Job.objects.filter(state__in=QUEUE_STATES).values_list("pk", flat=True))
    cancelled = job_transition_many(
        jobs=waiting,
        to_state=JobState.CANCELLED,
        actor_kind=ActorKind.USER,
        actor=user,
        reason=reason or "queue cleared",
        expected_states=QUEUE_STATES,
    )
    return len(cancelled)


def _queue_flags(user, **changes) -> QueueState:
    state = lock_queue(allow_locked=True)
    for field, value in changes.items():
        setattr(state, field, value)
    state.queue_version += 1
    state.save()
    return state


@transaction.atomic
def queue_start(*, user) -> QueueState:
    _require_staff(user, "start the queue")
    state = _queue_flags(user, running=True, stop_pending=False)
    transaction.on_commit(
        lambda: signals.queue_changed.send(sender=QueueState, reason="queue started"), robust=True
    )
    return state


@transaction.atomic
def queue_stop(*, user) -> QueueState:
    """Dispatch nothing new. With jobs still on machines the stop is pending until they finish."""
    _require_staff(user, "stop the queue")
    busy = Job.objects.filter(state__in=ACTIVE_STATES).exists()
    if busy:
        return _queue_flags(user, stop_pending=True)
    return _queue_flags(user, running=False, stop_pending=False)


@transaction.atomic
def queue_stop_cancel(*, user) -> QueueState:
    _require_staff(user, "cancel a queue stop")
    state = lock_queue(allow_locked=True)
    if not state.stop_pending:
        raise QueueConflict("no stop is pending")
    return _queue_flags(user, stop_pending=False)


@transaction.atomic
def queue_lock(*, user, note: str) -> QueueState:
    """Freeze the queue: no job can be added, moved, changed or removed until staff unlock it."""
    _require_staff(user, "lock the queue")
    if not note.strip():
        raise JobValidationError("say why the queue is locked (note)")
    return _queue_flags(user, locked=True, lock_note=note.strip(), locked_by=user, locked_at=timezone.now())


@transaction.atomic
def queue_unlock(*, user) -> QueueState:
    _require_staff(user, "unlock the queue")
    return _queue_flags(user, locked=False, lock_note="", locked_by=None, locked_at=None)
