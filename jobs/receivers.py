"""Wiring: jobs signals and machine signals to the scheduler, the dispatcher and the reconciler.

Everything that talks to a printer runs as a task (``mes.engine.enqueue``, sent after commit). The
reconciler runs synchronously in the process that polled the machine (it only touches the database).
"""

from __future__ import annotations

import logging

from django.db.models.signals import post_delete, post_save

from jobs import forecast_store
from jobs import signals as job_signals
from jobs.services.reconciler import printer_report, printer_state_from_live, reconcile_machine
from jobs.services.scheduler import scheduler_run_request
from machines import signals as machine_signals
from machines.machine_types.printer_3d import BasePrinterDriver
from machines.models import MachineConfig
from machines.state import LiveState
from mes.engine import enqueue
from policies.models import (
    Closure,
    JobOverride,
    MachinePolicy,
    OpeningHours,
    Quota,
    TrainingRecord,
    TrainingRequirement,
)

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

    reconcile_machine(
        machine_id=machine.id, printer_state=printer_state_from_live(new), observed_at=new.last_seen
    )


def connect() -> None:
    job_signals.queue_changed.connect(on_queue_changed, dispatch_uid="jobs.scheduler.queue_changed")
    job_signals.job_control_requested.connect(on_job_control_requested, dispatch_uid="jobs.control.requested")
    machine_signals.machine_became_idle.connect(on_machine_became_idle, dispatch_uid="jobs.scheduler.idle")
    machine_signals.machine_state_changed.connect(on_machine_state_changed, dispatch_uid="jobs.reconciler")
    # The stored ETA forecast (jobs.forecast_store) decides which of these changes can move it.
    job_signals.job_state_changed.connect(
        forecast_store.on_job_state_changed, dispatch_uid="jobs.forecast.job"
    )
    job_signals.queue_changed.connect(forecast_store.on_queue_changed, dispatch_uid="jobs.forecast.queue")
    machine_signals.machine_state_changed.connect(
        forecast_store.on_machine_state_changed, dispatch_uid="jobs.forecast.machine"
    )
    for model in (
        MachineConfig,
        OpeningHours,
        Closure,
        MachinePolicy,
        TrainingRecord,
        TrainingRequirement,
        Quota,
        JobOverride,
    ):
        for signal in (post_save, post_delete):
            signal.connect(
                forecast_store.on_policy_or_machine_saved,
                sender=model,
                dispatch_uid=f"jobs.forecast.{model.__name__}.{signal is post_save}",
            )
    # What OPC UA clients ask for (bed cleared, pause/resume/cancel) is wired by opcua.requests:
    # opcua calls the jobs services, jobs never imports opcua.
