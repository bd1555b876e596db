"""Dispatch: send a job the scheduler assigned to its printer, and start it. Idempotent and crash-safe.

The job is ``dispatching`` before anything is sent. Every run (first attempt, retry after a crash, the
sweep's re-run) first asks the printer what it already has, under the machine's I/O lock:

1. The printer reports the job's file as its current (or last) job → it was started already: the job
   is ``printing`` and the reconciler takes it from there. Never a second start.
2. The file is on the printer with the same name (it carries the job UUID) and size → no re-upload.
3. Otherwise upload, → ``uploaded``; start, → ``printing``.

Unreachable printer or busy lock → the job stays where it is and the sweep retries. The printer refused
(busy, error, rejected the file) → back to the front of the queue, or ``failed`` after
``JOBS_DISPATCH_MAX_ATTEMPTS`` refusals, with the reason in the job's events.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from jobs.exceptions import IllegalTransition
from jobs.models import Job, JobEvent
from jobs.services.lifecycle import job_transition
from jobs.states import DISPATCH_STATES, ActorKind, ControlAction, DispatchResult, JobState
from machines.locks import MachineBusy, machine_io_lock
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, BasePrinterDriver
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterError,
    PrinterState,
    PrinterStatus,
    PrinterUnreachable,
)
from machines.registry import get_registry

logger = logging.getLogger(__name__)

# A slow printer still takes this many bytes per second; the I/O lock lives long enough for the upload.
UPLOAD_FLOOR_BYTES_PER_SECOND = 256 * 1024
# Printer statuses in which nothing should be started, but which are not a refusal (try again later).
WAIT_STATUSES = frozenset({PrinterStatus.DISCONNECTED, PrinterStatus.UNKNOWN})


@dataclass(frozen=True)
class DispatchOutcome:
    job_id: str
    result: DispatchResult
    detail: str = ""


class _Refused(Exception):
    """The printer will not take this job now (busy, in error, refused the file)."""


def printer_has_started(state: PrinterState, file_name: str) -> bool:
    """The printer names this file as its job: it was started (it may even be over already).

    All three printer APIs only report a file as the job once a print of it was started; an upload
    alone never makes it the job. So this is the check that keeps a retry from printing twice.
    """
    return state.job is not None and state.job.file_name == file_name


def _load(job_id) -> Job | None:
    return Job.objects.select_related("machine").filter(pk=job_id).first()


def _attempts(job: Job) -> int:
    """Refusals so far: each one sent the job back to the queue from dispatching/uploaded."""
    return job.events.filter(
        kind=JobEvent.Kind.TRANSITION,
        to_state=JobState.QUEUED,
        from_state__in=DISPATCH_STATES,
    ).count()


@contextmanager
def _local_path(job: Job):
    """A filesystem path to the job's G-code (a temporary copy for storages without paths)."""
    try:
        yield Path(job.file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(job.file.name).suffix
    with (
        tempfile.NamedTemporaryFile(suffix=suffix) as handle,
        default_storage.open(job.file.name, "rb") as src,
    ):
        for chunk in iter(lambda: src.read(1024 * 1024), b""):
            handle.write(chunk)
        handle.flush()
        yield Path(handle.name)


def _move(
    job: Job, to_state: str, *, reason: str, expected: set[str], extra: dict | None = None
) -> Job | None:
    try:
        return job_transition(
            job=job.pk,
            to_state=to_state,
            actor_kind=ActorKind.SCHEDULER,
            reason=reason,
            expected_states=expected,
            extra=extra,
        )
    except IllegalTransition as exc:
        # Someone else moved it (the reconciler saw the print start; a user cancelled): theirs wins.
        logger.info("dispatch of %s: %s", job.pk, exc)
        return None


def _refused(job: Job, reason: str) -> DispatchOutcome:
    attempts = _attempts(job) + 1
    limit = int(getattr(settings, "JOBS_DISPATCH_MAX_ATTEMPTS", 3) or 3)
    extra = {"dispatch_refused": reason, "attempt": attempts, "machine": str(job.machine_id)}
    if attempts >= limit:
        moved = _move(
            job,
            JobState.FAILED,
            reason=f"printers refused the job {attempts} times; last: {reason}",
            expected=set(DISPATCH_STATES),
            extra=extra,
        )
        return DispatchOutcome(
            str(job.pk), DispatchResult.FAILED if moved else DispatchResult.SKIPPED, reason
        )
    moved = _move(
        job,
        JobState.QUEUED,
        reason=f"the printer refused the job: {reason}",
        expected=set(DISPATCH_STATES),
        extra=extra,
    )
    return DispatchOutcome(str(job.pk), DispatchResult.REQUEUED if moved else DispatchResult.SKIPPED, reason)


def job_dispatch(*, job_id) -> DispatchOutcome:
    """Bring a ``dispatching``/``uploaded`` job to ``printing`` on its machine (safe to run twice)."""
    job = _load(job_id)
    if job is None or job.state not in DISPATCH_STATES:
        return DispatchOutcome(str(job_id), DispatchResult.SKIPPED, "not waiting for dispatch")
    machine = get_registry().get_machine(job.machine_id)
    if machine is None or not isinstance(machine.driver, BasePrinterDriver):
        return _refused(job, "the machine no longer exists or has no usable printer driver")
    ttl = 60 + job.size / UPLOAD_FLOOR_BYTES_PER_SECOND
    try:
        with machine_io_lock(machine.id, ttl=ttl):
            return _dispatch_locked(job.pk, machine)
    except MachineBusy as exc:
        return DispatchOutcome(str(job_id), DispatchResult.RETRY, str(exc))


def _dispatch_locked(job_id, machine) -> DispatchOutcome:
    job = _load(job_id)  # again: it may have changed while we waited for the lock
    if job is None or job.state not in DISPATCH_STATES:
        return DispatchOutcome(str(job_id), DispatchResult.SKIPPED, "not waiting for dispatch")
    driver: BasePrinterDriver = machine.driver
    name = job.printer_file_name
    try:
        state = driver.get_state(machine)
        if printer_has_started(state, name):
            moved = _move(
                job,
                JobState.PRINTING,
                reason="the printer already runs this job",
                expected=set(DISPATCH_STATES),
            )
            return DispatchOutcome(
                str(job.pk), DispatchResult.PRINTING if moved else DispatchResult.SKIPPED, "already started"
            )
        if job.requested_action == ControlAction.CANCEL:
            moved = _move(
                job, JobState.CANCELLED, reason="cancelled before it started", expected=set(DISPATCH_STATES)
            )
            return DispatchOutcome(str(job.pk), DispatchResult.CANCELLED if moved else DispatchResult.SKIPPED)
        if state.status in WAIT_STATUSES:
            return DispatchOutcome(str(job.pk), DispatchResult.RETRY, f"the printer is {state.status.value}")
        if state.status is not PrinterStatus.IDLE and not (
            state.status is PrinterStatus.AWAITING_BED_CLEAR
            and machine.state.data.get(BED_CLEAR_REQUIRED) is False
        ):
            detail = f": {state.message}" if state.message else ""
            driver.record_state(
                machine, state
            )  # so the scheduler does not pick it again before the next poll
            raise _Refused(f"the printer is {state.status.value}{detail}")
        if job.state == JobState.DISPATCHING:
            if not _file_present(driver, machine, job):
                with _local_path(job) as path:
                    driver.upload(machine, path, name, job.sha256)
            job = _move(job, JobState.UPLOADED, reason="file on the printer", expected={JobState.DISPATCHING})
            if job is None:
                return DispatchOutcome(str(job_id), DispatchResult.SKIPPED, "changed during upload")
        job = _load(job_id)
        if job.requested_action == ControlAction.CANCEL:
            moved = _move(
                job, JobState.CANCELLED, reason="cancelled before it started", expected=set(DISPATCH_STATES)
            )
            return DispatchOutcome(str(job.pk), DispatchResult.CANCELLED if moved else DispatchResult.SKIPPED)
        driver.start(machine, name)
    except (PrinterUnreachable, PrinterBadResponse) as exc:
        # No answer, or one we cannot read: we do not know whether the command took effect, so the
        # job stays where it is and the retry asks the printer first.
        logger.warning("dispatch of %s to %s failed (%s); will retry", job.pk, machine.name, exc)
        return DispatchOutcome(str(job.pk), DispatchResult.RETRY, str(exc))
    except _Refused as exc:
        return _refused(job, str(exc))
    except PrinterError as exc:
        # Rejected or bad credentials: the printer said no, so nothing was started.
        return _refused(job, f"{type(exc).__name__}: {exc}")
    moved = _move(job, JobState.PRINTING, reason=f"started on {machine.name}", expected={JobState.UPLOADED})
    return DispatchOutcome(str(job.pk), DispatchResult.PRINTING if moved else DispatchResult.SKIPPED)


def _file_present(driver: BasePrinterDriver, machine, job: Job) -> bool:
    """The printer has a file of this name and size (and checksum, when the printer reports one)."""
    for remote in driver.list_files(machine):
        if remote.name.rsplit("/", 1)[-1] != job.printer_file_name:
            continue
        if remote.size is not None and job.size and remote.size != job.size:
            return False
        return not (remote.sha256 and job.sha256 and remote.sha256 != job.sha256)
    return False
