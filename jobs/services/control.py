"""Deliver a pause/resume/cancel request to the printer. The job's state then follows what the printer
reports (the reconciler), never what we asked for."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobEvent
from jobs.services.dispatch import DISPATCH_STATES, printer_has_started
from jobs.services.lifecycle import bump_versions, event_record, job_transition
from jobs.states import ACTIVE_STATES, ActorKind, ControlAction, ControlResult, JobState
from machines.locks import MachineBusy, machine_io_lock
from machines.machine_types.printer_3d import BasePrinterDriver
from machines.machine_types.printer_state import (
    ACTIVE_STATUSES,
    PrinterBadResponse,
    PrinterError,
    PrinterStatus,
    PrinterUnreachable,
)
from machines.registry import get_registry

logger = logging.getLogger(__name__)

# Requests still pending after this long are sent again by the sweep.
REQUEST_RESEND_AFTER = 10.0


@dataclass(frozen=True)
class ControlOutcome:
    job_id: str
    result: ControlResult
    detail: str = ""


@transaction.atomic
def _drop_request(job_id, action: str, reason: str) -> None:
    """The printer refused the request: forget it (with the reason in the history) so nobody waits for it."""
    job = Job.objects.select_for_update().filter(pk=job_id, requested_action=action).first()
    if job is None:
        return
    job.requested_action = ""
    job.requested_at = None
    job.version += 1
    job.save(update_fields=["requested_action", "requested_at", "version", "updated_at"])
    event_record(
        job=job,
        kind=JobEvent.Kind.REQUEST,
        from_state=job.state,
        to_state=job.state,
        actor_kind=ActorKind.SCHEDULER,
        reason=f"the printer refused to {action}: {reason}",
        extra={"request": action, "refused": reason},
    )
    bump_versions(queue=True)


def job_control(*, job_id, action: str) -> ControlOutcome:
    """Send ``action`` to the printer running the job, if it is still wanted. Safe to run twice."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state not in ACTIVE_STATES or job.machine_id is None:
        return ControlOutcome(str(job_id), ControlResult.SKIPPED, "the job is not on a machine")
    machine = get_registry().get_machine(job.machine_id)
    if machine is None or not isinstance(machine.driver, BasePrinterDriver):
        return ControlOutcome(str(job_id), ControlResult.SKIPPED, "no usable printer driver")
    try:
        with machine_io_lock(machine.id):
            return _control_locked(job.pk, action, machine)
    except MachineBusy as exc:
        return ControlOutcome(str(job_id), ControlResult.RETRY, str(exc))


def _control_locked(job_id, action: str, machine) -> ControlOutcome:
    job = Job.objects.get(pk=job_id)
    if job.requested_action != action or job.state not in ACTIVE_STATES:
        return ControlOutcome(str(job_id), ControlResult.SKIPPED, "the request was fulfilled or replaced")
    driver: BasePrinterDriver = machine.driver
    try:
        state = driver.get_state(machine)
        ours = printer_has_started(state, job.printer_file_name) and state.status in ACTIVE_STATUSES
        if action == ControlAction.CANCEL:
            if not ours and job.state in DISPATCH_STATES:
                # Nothing runs yet, and dispatch checks the request before starting (same lock).
                job_transition(
                    job=job.pk,
                    to_state=JobState.CANCELLED,
                    actor_kind=ActorKind.SCHEDULER,
                    reason="cancelled before it started",
                    expected_states=set(DISPATCH_STATES),
                )
                return ControlOutcome(str(job_id), ControlResult.CANCELLED)
            if not ours or state.status is PrinterStatus.CANCELLING:
                return ControlOutcome(
                    str(job_id), ControlResult.NOTHING_TO_DO, "the printer does not run it (any more)"
                )
            driver.cancel(machine)
        elif action == ControlAction.PAUSE:
            if not ours or state.status in (PrinterStatus.PAUSING, PrinterStatus.PAUSED):
                return ControlOutcome(
                    str(job_id), ControlResult.NOTHING_TO_DO, f"the printer is {state.status.value}"
                )
            driver.pause(machine)
        elif action == ControlAction.RESUME:
            if not ours or state.status is not PrinterStatus.PAUSED:
                return ControlOutcome(
                    str(job_id), ControlResult.NOTHING_TO_DO, f"the printer is {state.status.value}"
                )
            driver.resume(machine)
        else:
            raise ValueError(f"unknown control action {action!r}")
    except (PrinterUnreachable, PrinterBadResponse) as exc:
        return ControlOutcome(str(job_id), ControlResult.RETRY, str(exc))
    except PrinterError as exc:
        _drop_request(job.pk, action, f"{type(exc).__name__}: {exc}")
        return ControlOutcome(str(job_id), ControlResult.REFUSED, str(exc))
    Job.objects.filter(pk=job.pk, requested_action=action).update(requested_at=timezone.now())
    return ControlOutcome(str(job_id), ControlResult.SENT)


def pending_requests(*, older_than_seconds: float = REQUEST_RESEND_AFTER) -> list[tuple[str, str]]:
    """(job id, action) of requests the printer has not fulfilled yet; the sweep sends them again."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return [
        (str(pk), action)
        for pk, action in Job.objects.filter(
            state__in=ACTIVE_STATES, requested_at__lt=cutoff, machine__isnull=False
        )
        .exclude(requested_action="")
        .values_list("pk", "requested_action")
    ]
