"""Awaiting bed clear: after a print the machine takes no new job until someone confirms the plate is empty.

The flag lives in the machine's live state (``data["bed_clear_required"]``, persisted to the database
on change, so it survives a cache flush and restarts). The printer-3d machine type shows an idle
printer with the flag set as *Awaiting bed clear*; the scheduler skips such machines.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from jobs.exceptions import JobError, JobPermissionDenied
from jobs.models import Job, JobEvent
from jobs.services.lifecycle import bump_versions, event_record
from jobs.services.scheduler import scheduler_run_request
from jobs.states import TERMINAL_STATES, ActorKind
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.registry import get_registry
from machines.state import read_state

logger = logging.getLogger(__name__)


class MachineNotFound(JobError):
    status_code = 404


class BedAlreadyClear(JobError):
    status_code = 409


def machine_bed_flag_set(*, machine_id: uuid.UUID | str, required: bool) -> None:
    """Set or clear the flag; the shown status follows at once (and on every poll after)."""
    machine = get_registry().get_machine(machine_id)
    if machine is None:
        logger.warning("bed flag for unknown machine %s not written", machine_id)
        return
    status = None
    if hasattr(machine.MACHINE_STATUS, "AWAITING_BED_CLEAR"):
        current = machine.state.status
        if required and current == int(Printer3DStatus.IDLE):
            status = Printer3DStatus.AWAITING_BED_CLEAR
        elif not required and current == int(Printer3DStatus.AWAITING_BED_CLEAR):
            status = Printer3DStatus.IDLE  # sends machine_became_idle: the scheduler runs
    machine.update_state(data={BED_CLEAR_REQUIRED: required}, status=status)


def machine_last_job(*, machine_id: uuid.UUID | str) -> Job | None:
    """The last print that ended on the machine (its plate is the one waiting to be cleared)."""
    return (
        Job.objects.filter(machine_id=machine_id, state__in=TERMINAL_STATES, started_at__isnull=False)
        .order_by("-finished_at", "-started_at")
        .select_related("owner")
        .first()
    )


def machine_bed_clear_allowed(*, machine_id: uuid.UUID | str, user) -> bool:
    """Staff, or the owner of the last job on that machine (they are standing at it to collect the part)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff:
        return True
    last = machine_last_job(machine_id=machine_id)
    return last is not None and last.owner_id == user.pk


def machine_bed_clear(
    *, machine_id: uuid.UUID | str, user=None, actor_kind: str = ActorKind.USER, actor_name: str = ""
) -> Job | None:
    """Someone confirmed the plate was removed: record it on the last job, free the machine, schedule.

    ``user`` is checked (staff or the last job's owner) unless ``actor_kind`` is a trusted system
    caller (OPC UA bridge, whose user is authenticated by the bridge: ``actor_name``).
    Returns the job the event was written to (None when no print ended there yet).
    """
    machine = get_registry().get_machine(machine_id)
    if machine is None:
        raise MachineNotFound(f"no machine {machine_id}")
    if actor_kind == ActorKind.USER and not machine_bed_clear_allowed(machine_id=machine_id, user=user):
        raise JobPermissionDenied(
            "only lab staff or the owner of the last job on this machine confirm its bed"
        )
    state = read_state(machine.id)
    if not state.data.get(BED_CLEAR_REQUIRED) and state.status != int(Printer3DStatus.AWAITING_BED_CLEAR):
        raise BedAlreadyClear(f"{machine.name} is not waiting for its bed to be cleared")
    last = machine_last_job(machine_id=machine_id)
    with transaction.atomic():
        if last is not None:
            who = actor_name or (user.get_username() if user is not None and user.is_authenticated else "")
            event_record(
                job=last,
                kind=JobEvent.Kind.UPDATE,
                from_state=last.state,
                to_state=last.state,
                actor_kind=actor_kind,
                actor=user if actor_kind == ActorKind.USER else None,
                reason=f"bed cleared on {machine.name}" + (f" by {who}" if who else ""),
                extra={"bed_cleared": True, "machine": machine.id},
            )
            bump_versions(history=True)
    machine_bed_flag_set(machine_id=machine.id, required=False)
    scheduler_run_request()
    return last
