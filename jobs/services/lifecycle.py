"""Job state changes. Every write locks the job row, checks the table and the version, and logs an event."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from events.types import EventType
from jobs import signals
from jobs.domain_events import job_domain_event, job_transition_event, milestones_between, milestones_crossed
from jobs.exceptions import IllegalTransition, JobPermissionDenied, VersionConflict
from jobs.models import Job, JobEvent, QueueState
from jobs.remote import remote_cancel
from jobs.selectors import job_can_change
from jobs.services.accounting import job_usage_settle
from jobs.services.positions import lock_queue, position_for_requeue, raise_if_locked
from jobs.states import (
    ACTIVE_STATES,
    CANCEL_AT_ONCE_STATES,
    CONTROL_REQUEST_STATES,
    QUEUE_STATES,
    TERMINAL_STATES,
    ActorKind,
    ControlAction,
    JobState,
    transition_refusal,
)

CONTROL_ACTIONS = tuple(ControlAction.values)  # kept for callers that list them


def _on_commit(fn) -> None:
    transaction.on_commit(fn, robust=True)


def _lock_job(job: Job | uuid.UUID | str) -> Job:
    pk = job.pk if isinstance(job, Job) else job
    return Job.objects.select_for_update().get(pk=pk)


def check_version(job: Job, expected_version: int | None) -> None:
    if expected_version is not None and job.version != expected_version:
        raise VersionConflict(
            f"the job changed since you read it (your version {expected_version}, current {job.version}); "
            "reload and try again",
            version=job.version,
        )


def bump_versions(*, queue: bool = False, history: bool = False) -> None:
    """Move the queue/history change markers on; clients holding an old ETag re-download."""
    changes: dict[str, Any] = {}
    if queue:
        changes["queue_version"] = F("queue_version") + 1
    if history:
        changes["history_version"] = F("history_version") + 1
    if changes and not QueueState.objects.filter(pk=QueueState.SINGLETON_ID).update(**changes):
        QueueState.objects.get_or_create(pk=QueueState.SINGLETON_ID)
        QueueState.objects.filter(pk=QueueState.SINGLETON_ID).update(**changes)


def event_record(
    *,
    job: Job,
    kind: str,
    actor_kind: str,
    actor=None,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    extra: dict | None = None,
) -> JobEvent:
    return JobEvent.objects.create(
        job=job,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        actor_kind=actor_kind,
        actor=actor if actor is not None and actor.is_authenticated else None,
        reason=reason,
        extra=extra or {},
    )


def _maybe_finish_stop() -> None:
    """A pending queue stop completes when the last running job is over."""
    state = QueueState.objects.filter(pk=QueueState.SINGLETON_ID, stop_pending=True).first()
    if state and not Job.objects.filter(state__in=ACTIVE_STATES).exists():
        QueueState.objects.filter(pk=state.pk).update(
            running=False, stop_pending=False, queue_version=F("queue_version") + 1
        )


def _refusal(job: Job, to_state: str, expected_states) -> IllegalTransition | None:
    """Why this locked job may not move to ``to_state`` now (None when the table allows it)."""
    from_state = job.state
    if expected_states is not None and from_state not in expected_states:
        return IllegalTransition(
            f"the job is {from_state}, not {' or '.join(sorted(expected_states))} as expected",
            state=from_state,
        )
    if from_state == to_state:
        return IllegalTransition(f"the job is already {to_state}", state=from_state)
    refusal = transition_refusal(from_state, to_state)
    if refusal:
        return IllegalTransition(refusal, state=from_state, to_state=to_state)
    return None


def _apply_transition(
    locked: Job,
    *,
    to_state: str,
    actor_kind: str,
    actor,
    reason: str,
    extra: dict | None,
    changes: dict[str, Any] | None,
    now,
) -> str:
    """The one place a job's state is written: fields, audit event, domain event, signal after commit.

    The job row is locked and the transition checked by the caller; returns the state it left.
    """
    from_state = locked.state
    locked.state = to_state
    locked.state_reason = reason
    locked.version += 1
    for field, value in (changes or {}).items():
        setattr(locked, field, value)
    if to_state in QUEUE_STATES:
        if locked.position is None:
            # Back from a failed dispatch or a partner lab: front of its band (it was next).
            # New arrivals: the back.
            front = from_state in ACTIVE_STATES or from_state == JobState.FORWARDED
            locked.position = position_for_requeue(priority=locked.priority, front=front)
        if from_state in ACTIVE_STATES:
            locked.machine = None
        if to_state == JobState.QUEUED:
            locked.queued_at = locked.queued_at or now
    else:
        locked.position = None
    if to_state == JobState.PRINTING and locked.started_at is None:
        locked.started_at = now
    if to_state in TERMINAL_STATES:
        locked.finished_at = now
        locked.requested_action = ""
        locked.requested_at = None
    elif (to_state, locked.requested_action) in {
        (JobState.PAUSED, ControlAction.PAUSE),
        (JobState.PRINTING, ControlAction.RESUME),
    }:
        locked.requested_action = ""
        locked.requested_at = None
    locked.save()
    if to_state in TERMINAL_STATES:
        job_usage_settle(job=locked)  # same transaction: ended and accounted commit together
    job_transition_event(
        job=locked,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        actor_kind=actor_kind,
        reason=reason,
    )
    event_record(
        job=locked,
        kind=JobEvent.Kind.TRANSITION,
        from_state=from_state,
        to_state=to_state,
        actor_kind=actor_kind,
        actor=actor,
        reason=reason,
        extra=extra,
    )
    job_id = locked.pk
    _on_commit(
        lambda: signals.job_state_changed.send(
            sender=Job, job_id=job_id, from_state=from_state, to_state=to_state, actor_kind=actor_kind
        )
    )
    return from_state


def _after_transitions(moves: list[tuple[str, str]]) -> None:
    """Once per write, however many jobs moved: change markers, a pending stop, the scheduler's nudge."""
    queue_touched = any(
        from_state in QUEUE_STATES or to_state in QUEUE_STATES or to_state in ACTIVE_STATES
        for from_state, to_state in moves
    )
    finished = any(to_state in TERMINAL_STATES for _, to_state in moves)
    bump_versions(queue=queue_touched, history=finished)
    if finished:
        _maybe_finish_stop()
    if any(to_state == JobState.QUEUED for _, to_state in moves):
        _on_commit(lambda: signals.queue_changed.send(sender=Job, reason="job queued"))


@transaction.atomic
def job_transition(
    *,
    job: Job | uuid.UUID | str,
    to_state: str,
    actor_kind: str,
    actor=None,
    reason: str = "",
    extra: dict | None = None,
    expected_version: int | None = None,
    expected_states: frozenset[str] | set[str] | None = None,
    changes: dict[str, Any] | None = None,
) -> Job:
    """Move a job to ``to_state`` if the table allows it from the state it is in *now* (row locked).

    The only path that changes a job's state (``job_transition_many`` is its bulk form).
    ``expected_states`` lets a caller (scheduler, reconciler) say which states its decision was based
    on; ``changes`` sets other fields in the same write (e.g. ``machine``, ``progress``).
    """
    lock_queue(allow_locked=True)
    locked = _lock_job(job)
    check_version(locked, expected_version)
    refusal = _refusal(locked, to_state, expected_states)
    if refusal is not None:
        raise refusal
    from_state = _apply_transition(
        locked,
        to_state=to_state,
        actor_kind=actor_kind,
        actor=actor,
        reason=reason,
        extra=extra,
        changes=changes,
        now=timezone.now(),
    )
    _after_transitions([(from_state, to_state)])
    return locked


@transaction.atomic
def job_transition_many(
    *,
    jobs: Iterable[Job | uuid.UUID | str],
    to_state: str,
    actor_kind: str,
    actor=None,
    reason: str = "",
    expected_states: frozenset[str] | set[str] | None = None,
) -> list[Job]:
    """``job_transition`` for many jobs in one transaction, by the same rules, events and signals.

    Rows are locked in id order (two bulk writers never deadlock); a job the table or
    ``expected_states`` refuses now (it moved meanwhile) is left as it is and not returned. The queue
    and history markers move once, and ``job_state_changed`` is sent for each job after commit.
    """
    if to_state in QUEUE_STATES:
        # Each requeued job takes its own queue position; that is job_transition's work, one by one.
        raise ValueError("job_transition_many does not put jobs into the queue; use job_transition")
    lock_queue(allow_locked=True)
    ids = [job.pk if isinstance(job, Job) else job for job in jobs]
    locked = list(Job.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    now = timezone.now()
    moved: list[Job] = []
    moves: list[tuple[str, str]] = []
    for job in locked:
        if _refusal(job, to_state, expected_states) is not None:
            continue
        from_state = _apply_transition(
            job,
            to_state=to_state,
            actor_kind=actor_kind,
            actor=actor,
            reason=reason,
            extra=None,
            changes=None,
            now=now,
        )
        moved.append(job)
        moves.append((from_state, to_state))
    if moves:
        _after_transitions(moves)
    return moved


def _require_change_permission(user, job: Job) -> None:
    if not job_can_change(user=user, job=job):
        raise JobPermissionDenied("you may only change your own jobs")


def job_approve(*, job: Job | uuid.UUID | str, user, reason: str = "") -> Job:
    """Staff approve a job that waits for approval; it keeps its queue position."""
    if not user.is_staff:
        raise JobPermissionDenied("only lab staff approve jobs")
    return job_transition(
        job=job,
        to_state=JobState.QUEUED,
        actor_kind=ActorKind.USER,
        actor=user,
        reason=reason or "approved",
        expected_states={JobState.AWAITING_APPROVAL},
    )


@transaction.atomic
def job_request_control(
    *, job: Job | uuid.UUID | str, action: str, user=None, actor_kind: str = ActorKind.USER, reason: str = ""
) -> Job:
    """Ask for pause/resume/cancel. Waiting jobs are cancelled at once; a job on a machine gets a request
    that the runtime delivers (signal ``job_control_requested``), and its state then follows what the
    machine reports."""
    if action not in ControlAction.values:
        raise ValueError(f"unknown control action {action!r}")
    queue_state = lock_queue(allow_locked=True)
    locked = _lock_job(job)
    if user is not None:
        _require_change_permission(user, locked)
    state = locked.state
    # A forwarded job was cancelled at the partner lab first (job_request_cancel); here it ends.
    if action == ControlAction.CANCEL and state in CANCEL_AT_ONCE_STATES:
        raise_if_locked(queue_state)
        return job_transition(
            job=locked,
            to_state=JobState.CANCELLED,
            actor_kind=actor_kind,
            actor=user,
            reason=reason or "cancelled",
        )
    allowed = CONTROL_REQUEST_STATES[action]
    if state not in allowed:
        raise IllegalTransition(
            f"cannot {action} a job that is {state} (only when {' or '.join(sorted(allowed))})", state=state
        )
    locked.requested_action = action
    locked.requested_at = timezone.now()
    locked.version += 1
    locked.save(update_fields=["requested_action", "requested_at", "version", "updated_at"])
    event_record(
        job=locked,
        kind=JobEvent.Kind.REQUEST,
        from_state=state,
        to_state=state,
        actor_kind=actor_kind,
        actor=user,
        reason=reason,
        extra={"request": action},
    )
    job_id, machine_id = locked.pk, locked.machine_id
    _on_commit(
        lambda: signals.job_control_requested.send(
            sender=Job, job_id=job_id, machine_id=machine_id, action=action
        )
    )
    return locked


def job_request_pause(*, job: Job | uuid.UUID | str, user=None, reason: str = "") -> Job:
    return job_request_control(job=job, action=ControlAction.PAUSE, user=user, reason=reason)


def job_request_resume(*, job: Job | uuid.UUID | str, user=None, reason: str = "") -> Job:
    return job_request_control(job=job, action=ControlAction.RESUME, user=user, reason=reason)


def job_request_cancel(*, job: Job | uuid.UUID | str, user=None, reason: str = "") -> Job:
    """Cancel here; a job that was forwarded to another place (a partner lab) is cancelled there first,
    outside any transaction, so that a refusal there leaves the job here unchanged."""
    current = job if isinstance(job, Job) else Job.objects.filter(pk=job).first()
    if current is None:  # job_request_control answers for a missing job
        return job_request_control(job=job, action=ControlAction.CANCEL, user=user, reason=reason)
    if user is not None:
        _require_change_permission(user, current)
    if current.state not in TERMINAL_STATES:
        remote_cancel(job_id=current.pk, user=user, reason=reason)
    return job_request_control(job=job, action=ControlAction.CANCEL, user=user, reason=reason)


def job_progress_set(*, job: Job | uuid.UUID | str, progress: float | None) -> int:
    """Progress from the machine. Touches only ``progress`` and only while a machine holds the job,
    so it can never overwrite a state another writer set. Crossing 25/50/75 % writes a
    ``job.progress`` event (once per milestone: the old value is read under the row lock).

    Given the loaded job (the reconciler's, one poller owns a machine), a report that crosses no
    milestone is one UPDATE, as cheap as before events existed."""
    pk = job.pk if isinstance(job, Job) else job
    if isinstance(job, Job) and not milestones_between(job.progress, progress):
        return Job.objects.filter(pk=pk, state__in=ACTIVE_STATES).update(progress=progress)
    return _progress_set_locked(pk, progress)


@transaction.atomic
def _progress_set_locked(pk, progress: float | None) -> int:
    current = Job.objects.select_for_update().filter(pk=pk, state__in=ACTIVE_STATES).first()
    if current is None:
        return 0
    crossed = milestones_crossed(current, current.progress, progress)
    updated = Job.objects.filter(pk=pk, state__in=ACTIVE_STATES).update(progress=progress)
    current.progress = progress
    for milestone in crossed:
        job_domain_event(
            job=current,
            event_type=EventType.JOB_PROGRESS,
            actor_kind=ActorKind.RECONCILER,
            milestone=milestone,
        )
    return updated


@transaction.atomic
def job_record_external(*, machine, file_name: str, actor_kind: str = ActorKind.RECONCILER) -> Job:
    """A print someone started by hand at the printer: recorded, linked to no student, already printing."""
    now = timezone.now()
    job = Job.objects.create(
        owner=None,
        external=True,
        name=file_name or "external print",
        original_name=file_name,
        printer_file_name=file_name,
        state=JobState.PRINTING,
        machine=machine,
        started_at=now,
        machine_type=machine.machine_type,
    )
    event_record(
        job=job,
        kind=JobEvent.Kind.CREATED,
        to_state=JobState.PRINTING,
        actor_kind=actor_kind,
        reason="print started at the printer",
        extra={"file_name": file_name},
    )
    bump_versions(queue=True)
    return job
