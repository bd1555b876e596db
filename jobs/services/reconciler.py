"""The reconciler: on every poll, make the database agree with what the printer reports. Stateless.

Inputs are only the machine's active job in the database and the printer's state right now, so a
worker restart loses nothing. Every write names the state its decision was based on
(``expected_states``); when an API call or the dispatcher changed the job in between, their change
stands and the next poll decides again.

| printer reports | job (on this machine) | result |
|---|---|---|
| nothing (unreachable, disconnected) | printing, paused | → unknown |
| error | printing, paused, unknown | → failed (message), bed clear required |
| running our file | dispatching, uploaded | → printing |
| running our file | printing/paused/unknown | follows: paused ⇄ printing; progress |
| running another file | printing, paused, unknown | → failed; the other print is recorded |
| running a file | none | our queued job (misjudged dispatch) is claimed, else an external job |
| idle/awaiting bed clear, our file at 100 % | printing, paused, unknown | → completed, bed clear required |
| idle/awaiting bed clear, our file below 100 % | printing, paused, unknown | → cancelled (or failed when it was lost) |
| idle without our file | printing, paused, unknown | → failed |
| idle, our file named | dispatching, uploaded | → printing (started, then the worker died), then as above |
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid

from django.db import IntegrityError, transaction

from events.types import EventType
from jobs.domain_events import job_domain_event
from jobs.exceptions import IllegalTransition
from jobs.models import Job
from jobs.selectors import job_for_printer_file
from jobs.services.bed import machine_bed_flag_set
from jobs.services.lifecycle import job_progress_set, job_record_external, job_transition
from jobs.states import (
    ACTIVE_STATES,
    DISPATCH_STATES,
    ON_PRINTER_STATES,
    PRINTING_OR_PAUSED_STATES,
    TERMINAL_STATES,
    ActorKind,
    ControlAction,
    JobState,
)
from machines.machine_types.printer_3d import Printer3DStatus
from machines.machine_types.printer_state import ACTIVE_STATUSES, PrinterState, PrinterStatus
from machines.models import MachineConfig
from machines.state import LiveState, read_states

logger = logging.getLogger(__name__)

FINISHED_AT = 99.95  # percent; printers round
# Machine statuses in which the last stored printer state is not the printer's word (we could not read it).
NOT_READ = frozenset(
    {
        int(Printer3DStatus.DISCONNECTED),
        int(Printer3DStatus.DRIVER_ERROR),
        int(Printer3DStatus.UNAUTHORIZED),
    }
)


def printer_state_from_live(live: LiveState) -> PrinterState | None:
    """What the printer said in its last poll, or None when it could not be read (lost)."""
    raw = live.data.get("printer_state")
    if live.status in NOT_READ or raw is None:
        return None
    state = PrinterState.from_dict(raw)
    if live.status == int(Printer3DStatus.ERROR) and state.status is not PrinterStatus.ERROR:
        return None  # an unreadable answer (HTTP 500, bad JSON), not an error the printer reported
    return state


def printer_report(live: LiveState) -> tuple | None:
    """The part of a printer's state the reconciler decides on; temperatures and times are not in it.

    Progress counts in whole per cent: it moves on every poll of a printing printer, and reconciling
    each step cost a query or two per poll (a third of the poll path's CPU with a third of a fleet
    printing). The job's stored progress follows every whole per cent (set to the printer's exact
    figure then); the end of a print is a change of status and is reconciled at once."""
    state = printer_state_from_live(live)
    if state is None:
        return None
    job = state.job
    progress = job.progress if job else None
    return (
        state.status,
        job.file_name if job else None,
        math.floor(progress) if progress is not None and math.isfinite(progress) else progress,
        state.message,
    )


def _active_job(machine_id) -> Job | None:
    return Job.objects.filter(machine_id=machine_id, state__in=ACTIVE_STATES).first()


def _move(job: Job, to_state: str, reason: str, extra: dict | None = None) -> bool:
    try:
        job_transition(
            job=job.pk,
            to_state=to_state,
            actor_kind=ActorKind.RECONCILER,
            reason=reason,
            expected_states={job.state},
            extra=extra,
        )
    except IllegalTransition as exc:
        logger.info("reconciler left job %s alone: %s", job.pk, exc)
        return False
    return True


def _ended(job: Job, machine_id, to_state: str, reason: str) -> bool:
    """A print that ran on the machine is over: the plate must be cleared before the next one.

    The flag is written before the job leaves its active state, so the scheduler never sees the
    machine free and the plate unconfirmed at once."""
    machine_bed_flag_set(machine_id=machine_id, required=True)
    with transaction.atomic():
        moved = _move(job, to_state, reason)
        if moved:
            job.refresh_from_db()
            job_domain_event(
                job=job,
                event_type=EventType.JOB_AWAITING_BED_CLEAR,
                actor_kind=ActorKind.RECONCILER,
                machine_name=MachineConfig.objects.filter(pk=machine_id)
                .values_list("name", flat=True)
                .first(),
            )
    return moved


def _claim_or_record(machine_id, file_name: str, observed_at: dt.datetime | None) -> str:
    """The printer runs something no job on this machine accounts for."""
    ours = job_for_printer_file(file_name=file_name) if file_name else None
    if (
        ours is not None
        and ours.state in TERMINAL_STATES
        and str(ours.machine_id) == str(machine_id)
        and (observed_at is None or ours.finished_at is None or observed_at <= ours.finished_at)
    ):
        # A report from before our own print on this machine ended (the sweep read it, then a poll
        # finished the job): not a print started at the printer. A newer report of it running is one.
        return "none"
    if ours is not None and ours.state == JobState.QUEUED:
        # Dispatch gave up on it (e.g. the start answer was lost) but the printer did start it.
        config = MachineConfig.objects.get(pk=machine_id)
        try:
            job_transition(
                job=ours.pk,
                to_state=JobState.DISPATCHING,
                actor_kind=ActorKind.RECONCILER,
                reason=f"the printer {config.name} runs it",
                expected_states={JobState.QUEUED},
                changes={"machine": config},
            )
        except (IllegalTransition, IntegrityError):
            return "none"
        return "claimed"
    if ours is not None and ours.state in ACTIVE_STATES:
        return "none"  # on another machine's books; that machine's reconciler decides
    try:
        job_record_external(machine=MachineConfig.objects.get(pk=machine_id), file_name=file_name)
    except IntegrityError:
        return "none"  # another process recorded it a moment ago
    return "external"


def _step(machine_id, job: Job | None, state: PrinterState | None, observed_at=None) -> str | None:
    """Apply at most one transition; return what was done (None: nothing more to do)."""
    lost = state is None or state.status is PrinterStatus.DISCONNECTED
    file_name = state.job.file_name if state is not None and state.job is not None else ""
    if job is None:
        if not lost and state.status in ACTIVE_STATUSES:
            result = _claim_or_record(machine_id, file_name, observed_at)
            return None if result == "none" else result
        return None
    # An external print is matched by its name even when the printer gives none (printing from an SD
    # card, a firmware that does not say): otherwise every poll would fail it and record a new one.
    ours = file_name == job.printer_file_name and (bool(file_name) or job.external)
    if lost:
        if job.state in PRINTING_OR_PAUSED_STATES:
            detail = f": {state.message}" if state is not None and state.message else ""
            return (
                "unknown" if _move(job, JobState.UNKNOWN, f"lost contact with the printer{detail}") else None
            )
        return None
    if state.status is PrinterStatus.UNKNOWN:
        return None  # the printer is in a state we cannot judge; wait for the next poll
    if state.status is PrinterStatus.ERROR:
        if job.state in ON_PRINTER_STATES:
            reason = f"the printer reported an error: {state.message or state.raw_state or 'no detail'}"
            return "failed" if _ended(job, machine_id, JobState.FAILED, reason) else None
        return None  # dispatching/uploaded: the dispatcher gets the refusal
    if state.status in ACTIVE_STATUSES:
        if not ours:
            if job.state in DISPATCH_STATES:
                return None  # the printer is busy: the dispatcher's start is refused and it requeues
            reason = f"the printer is printing another file ({file_name or 'unnamed'})"
            return "failed" if _move(job, JobState.FAILED, reason) else None
        if job.state in DISPATCH_STATES:
            return "printing" if _move(job, JobState.PRINTING, "the printer runs it") else None
        progress = state.job.progress if state.job is not None else None
        if progress is not None and progress != job.progress:
            job_progress_set(job=job, progress=progress)
        wanted = {
            PrinterStatus.PAUSED: JobState.PAUSED,
            PrinterStatus.PRINTING: JobState.PRINTING,
            PrinterStatus.HEATING: JobState.PRINTING,
        }.get(state.status)
        if wanted is None and job.state == JobState.UNKNOWN:
            wanted = JobState.PRINTING  # back, and busy pausing/finishing/cancelling
        if wanted is not None and wanted != job.state:
            return wanted if _move(job, wanted, f"the printer reports {state.status.value}") else None
        return None
    # Idle or awaiting bed clear: whatever ran is over.
    if job.state in DISPATCH_STATES:
        if ours:  # it was started, and the dispatcher never heard back
            return "printing" if _move(job, JobState.PRINTING, "the printer ran it") else None
        return None
    if not ours:
        reason = (
            "the printer came back idle without this job"
            if job.state == JobState.UNKNOWN
            else "the printer is idle and no longer reports this job"
        )
        return "failed" if _ended(job, machine_id, JobState.FAILED, reason) else None
    progress = state.job.progress if state.job is not None else None
    if progress is not None and progress >= FINISHED_AT:
        job_progress_set(job=job, progress=100.0)
        return "completed" if _ended(job, machine_id, JobState.COMPLETED, "the printer finished it") else None
    if job.state == JobState.UNKNOWN and job.requested_action != ControlAction.CANCEL:
        reason = "the printer came back idle without finishing this job"
        return "failed" if _ended(job, machine_id, JobState.FAILED, reason) else None
    reason = (
        "cancelled as requested"
        if job.requested_action == ControlAction.CANCEL
        else "cancelled at the printer"
    )
    return "cancelled" if _ended(job, machine_id, JobState.CANCELLED, reason) else None


def reconcile_machine(
    *,
    machine_id: uuid.UUID | str,
    printer_state: PrinterState | None,
    observed_at: dt.datetime | None = None,
) -> list[str]:
    """Bring the machine's job in line with ``printer_state`` (None: the printer could not be read),
    as the printer reported it at ``observed_at`` (its poll's time, when known).

    Returns the transitions made (for logs and tests). A few can apply in one poll, e.g. a job
    left ``uploaded`` by a crashed worker whose print has already finished: → printing → completed.
    """
    done: list[str] = []
    for _ in range(4):
        result = _step(machine_id, _active_job(machine_id), printer_state, observed_at)
        if result is None:
            break
        done.append(result)
    if done:
        logger.info("reconciled machine %s: %s", machine_id, " → ".join(done))
    return done


def reconcile_sweep() -> int:
    """Reconcile every machine with an active job against its last report; returns the transitions.

    Polls reconcile only when the printer's report changes, so this catches changes on our side
    the printer never reflected (a start that did not take, a worker that died mid-dispatch). A
    report older than the job's last change is not used: it cannot speak for the new state.
    """
    changed_at = {
        str(machine_id): updated_at
        for machine_id, updated_at in Job.objects.filter(
            state__in=ACTIVE_STATES, machine__isnull=False
        ).values_list("machine_id", "updated_at")
    }
    done = 0
    for machine_id, live in read_states(changed_at).items():
        if live.last_seen is None or live.last_seen <= changed_at[machine_id]:
            continue
        done += len(
            reconcile_machine(
                machine_id=machine_id, printer_state=printer_state_from_live(live), observed_at=live.last_seen
            )
        )
    return done
