"""Feed the publisher from the machine registry and the job queue (the only module that knows them).

Dependencies flow one way: opcua imports machines and jobs; neither imports opcua. Receivers are
connected in ``OpcuaConfig.ready()`` and do nothing unless OPC UA is configured. A failure here is
logged and never propagates into the poller or the request that changed the machine.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction

from jobs.models import Job, QueueState
from jobs.services.bed import machine_last_job
from jobs.signals import job_state_changed, queue_changed
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED
from machines.models import MachineConfig
from machines.registry import get_registry
from machines.signals import machine_state_changed, machines_created
from opcua.conf import is_configured
from opcua.services import opcua_publish_machine, opcua_publish_queue, opcua_remove_machine
from opcua.snapshots import JobSnapshot, MachineSnapshot, QueueSnapshot

logger = logging.getLogger(__name__)

OFFLINE_CODES = frozenset({300, 400, 401, 500})  # disconnected, driver error, unauthorized, unknown
# Jobs shown on a machine: running ones, and a finished one whose plate is still on the bed.
ACTIVE_JOB_STATES = ("dispatching", "uploaded", "printing", "paused", "unknown")
LAST_SEEN_ONLY_EVERY = timedelta(seconds=60)


def _status_slug(machine, code: int | None) -> str:
    if code is None:
        return "unknown"
    try:
        return machine.MACHINE_STATUS(code).name.lower()
    except ValueError:
        return "unknown"


def _job_for(machine_id: str, plate_waiting: bool, printer_job: dict | None) -> JobSnapshot | None:
    jobs = Job.objects.filter(machine_id=machine_id).select_related("owner")
    job = jobs.filter(state__in=ACTIVE_JOB_STATES).order_by("-started_at").first()
    if job is None and plate_waiting:
        # The print whose plate is on the bed (completed, failed or cancelled), as jobs.services.bed sees it.
        job = machine_last_job(machine_id=machine_id)
    if job is None and printer_job is None:
        return None
    printer_job = printer_job or {}
    return JobSnapshot(
        id=str(job.id) if job else "",
        file=(job.original_name or job.printer_file_name) if job else printer_job.get("file_name", ""),
        owner=job.owner.get_username() if job and job.owner else "",
        state=job.state if job else "printing",  # a job started at the printer, unknown to us
        progress=printer_job.get("progress", job.progress if job else None),
        time_used=printer_job.get("time_used"),
        time_left=printer_job.get("time_left"),
    )


def machine_snapshot(machine, state) -> MachineSnapshot:
    """A registry machine and its LiveState as the bridge's input."""
    status = _status_slug(machine, state.status)
    awaiting = status == "awaiting_bed_clear" or bool((state.data or {}).get(BED_CLEAR_REQUIRED))
    online = state.status is not None and state.status not in OFFLINE_CODES
    printer = (state.data or {}).get("printer_state") or {}
    temperatures = {
        name: ((t or {}).get("actual") if online else None, (t or {}).get("target") if online else None)
        for name, t in (printer.get("temperatures") or {}).items()
    }
    return MachineSnapshot(
        id=machine.id,
        name=machine.name,
        status=status,
        status_code=state.status,
        status_text=state.status_text,
        online=online,
        last_seen=state.last_seen,
        temperatures=temperatures,
        job=_job_for(machine.id, awaiting or status == "finishing", printer.get("job") if online else None),
        awaiting_bed_clear=awaiting,
    )


def queue_snapshot() -> QueueSnapshot:
    queue = QueueState.objects.filter(pk=QueueState.SINGLETON_ID).first()
    return QueueSnapshot(
        length=Job.objects.filter(state="queued").count(),
        running=Job.objects.filter(state__in=ACTIVE_JOB_STATES).count(),
        paused=bool(queue and not queue.running),
    )


def _only_last_seen_moved(old, new) -> bool:
    same = (old.status, old.status_text, old.properties, old.data) == (
        new.status,
        new.status_text,
        new.properties,
        new.data,
    )
    if not same or old.last_seen is None or new.last_seen is None:
        return False
    return new.last_seen - old.last_seen < LAST_SEEN_ONLY_EVERY


def _guarded(what: str, func, *args) -> None:
    try:
        func(*args)
    except Exception:
        logger.exception("OPC UA: could not publish %s", what)


def on_machine_state_changed(sender, machine, old, new, **kwargs) -> None:
    if not is_configured() or _only_last_seen_moved(old, new):
        return
    # Read the state afresh: receivers that ran before this one (the reconciler) may have changed it
    # again, and publishing the older ``new`` would overwrite their newer state.
    _guarded(
        f"machine {machine.id}",
        lambda: opcua_publish_machine(snapshot=machine_snapshot(machine, machine.state)),
    )


def on_machine_saved(sender, instance, **kwargs) -> None:
    """A rename (or any edit) republishes the machine with its current live state."""
    if not is_configured():
        return

    def publish() -> None:
        machine = get_registry().get_machine(instance.pk)
        if machine is not None:
            opcua_publish_machine(snapshot=machine_snapshot(machine, machine.state))

    transaction.on_commit(lambda: _guarded(f"machine {instance.pk}", publish))


def on_machines_created(sender, machines, **kwargs) -> None:
    """Machines added in bulk (``machines_create_many`` sends no ``post_save``) are published like one
    saved alone."""
    for config in machines:
        on_machine_saved(sender, config)


def on_machine_deleted(sender, instance, **kwargs) -> None:
    if not is_configured():
        return
    machine_id = str(instance.pk)
    transaction.on_commit(
        lambda: _guarded(f"removal of {machine_id}", lambda: opcua_remove_machine(machine_id=machine_id))
    )


def on_queue_changed(sender, **kwargs) -> None:
    if is_configured():
        _guarded("queue", lambda: opcua_publish_queue(snapshot=queue_snapshot()))


def _publish_machine_of_job(job_id) -> None:
    machine_id = Job.objects.filter(pk=job_id).values_list("machine_id", flat=True).first()
    machine = get_registry().get_machine(machine_id) if machine_id else None
    if machine is not None:
        opcua_publish_machine(snapshot=machine_snapshot(machine, machine.state))


def on_job_state_changed(sender, job_id, **kwargs) -> None:
    """A job moved (dispatched, completed, ...): its machine's Job/* and the queue counts change."""
    if not is_configured():
        return
    _guarded(f"machine of job {job_id}", lambda: _publish_machine_of_job(job_id))
    _guarded("queue", lambda: opcua_publish_queue(snapshot=queue_snapshot()))


def publish_all() -> int:
    """Publish every registered machine and the queue as they are now (changes only, as always).

    The bridge command calls this at start, so a fleet that is steady when OPC UA gets switched on
    appears at once instead of at its next change.
    """
    changed = 0
    for machine in get_registry().machines():
        changed += opcua_publish_machine(snapshot=machine_snapshot(machine, machine.state))
    changed += opcua_publish_queue(snapshot=queue_snapshot())
    return changed


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    machine_state_changed.connect(on_machine_state_changed, dispatch_uid="opcua.machine_state")
    post_save.connect(on_machine_saved, sender=MachineConfig, dispatch_uid="opcua.machine_saved")
    machines_created.connect(on_machines_created, dispatch_uid="opcua.machines_created")
    post_delete.connect(on_machine_deleted, sender=MachineConfig, dispatch_uid="opcua.machine_deleted")
    job_state_changed.connect(on_job_state_changed, dispatch_uid="opcua.job_state")
    queue_changed.connect(on_queue_changed, dispatch_uid="opcua.queue")
    post_save.connect(on_queue_changed, sender=QueueState, dispatch_uid="opcua.queue_state")
