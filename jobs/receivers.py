"""Wiring: jobs signals and machine signals to the scheduler, the dispatcher and the reconciler.

Everything that talks to a printer runs as a task (``mes.engine.enqueue``, sent after commit). The
reconciler runs synchronously in the process that polled the machine (it only touches the database).
"""

from __future__ import annotations

import logging

from django.apps import apps

from jobs import signals as job_signals
from jobs.exceptions import JobError
from jobs.services.reconciler import printer_report, printer_state_from_live
from jobs.services.scheduler import scheduler_run_request
from jobs.states import ActorKind
from machines import signals as machine_signals
from machines.machine_types.printer_3d import BasePrinterDriver
from machines.state import LiveState
from mes.engine import enqueue

logger = logging.getLogger(__name__)


def on_queue_changed(sender, **kwargs) -> None:
    scheduler_run_request()


def on_machine_became_idle(sender, machine, **kwargs) -> None:
    scheduler_run_request()


def on_job_control_requested(sender, job_id, machine_id, action, **kwargs) -> None:
    enqueue("jobs.tasks.job_control", str(job_id), action)


def on_machine_state_changed(sender, machine, old: LiveState, new: LiveState, **kwargs) -> None:
    """Reconcile when what the printer reports changed (status, file, progress) or it stopped answering.

    Polls that only move ``last_seen`` or temperatures cost nothing here; the periodic reconcile
    sweep catches what changed on the database side in between (e.g. a start that never took).
    """
    if not isinstance(machine.driver, BasePrinterDriver):
        return
    if printer_report(old) == printer_report(new):
        return
    from jobs.services.reconciler import reconcile_machine

    reconcile_machine(machine_id=machine.id, printer_state=printer_state_from_live(new))


def on_opcua_bed_cleared(sender, machine_id, user, **kwargs) -> None:
    from jobs.services.bed import machine_bed_clear

    try:
        machine_bed_clear(machine_id=machine_id, actor_kind=ActorKind.OPCUA, actor_name=str(user))
    except JobError as exc:
        logger.info("OPC UA bed clear on %s by %s: %s", machine_id, user, exc.message)


def on_opcua_control(sender, machine_id, action, user, **kwargs) -> None:
    from jobs.models import Job
    from jobs.services import job_request_control
    from jobs.states import ACTIVE_STATES

    job = Job.objects.filter(machine_id=machine_id, state__in=ACTIVE_STATES).first()
    if job is None:
        logger.info("OPC UA %s on %s by %s: no job on the machine", action, machine_id, user)
        return
    try:
        job_request_control(
            job=job, action=action, actor_kind=ActorKind.OPCUA, reason=f"requested over OPC UA by {user}"
        )
    except JobError as exc:
        logger.info("OPC UA %s on %s by %s: %s", action, machine_id, user, exc.message)


def connect() -> None:
    job_signals.queue_changed.connect(on_queue_changed, dispatch_uid="jobs.scheduler.queue_changed")
    job_signals.job_control_requested.connect(on_job_control_requested, dispatch_uid="jobs.control.requested")
    machine_signals.machine_became_idle.connect(on_machine_became_idle, dispatch_uid="jobs.scheduler.idle")
    machine_signals.machine_state_changed.connect(on_machine_state_changed, dispatch_uid="jobs.reconciler")
    if apps.is_installed("opcua"):
        from opcua import signals as opcua_signals

        opcua_signals.bed_cleared_requested.connect(on_opcua_bed_cleared, dispatch_uid="jobs.opcua.bed")
        opcua_signals.machine_control_requested.connect(on_opcua_control, dispatch_uid="jobs.opcua.control")
