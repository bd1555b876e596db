"""What the lab asks for over OPC UA, carried out through the jobs services.

The bridge only emits ``opcua.signals`` (from a worker thread of the bridge process); these receivers,
connected in ``OpcuaConfig.ready()``, turn them into the jobs services' calls. They live here and not in
``jobs`` because ``opcua`` sits above ``jobs``: jobs never imports opcua (tests/test_layers.py).
A refusal (no job on the machine, wrong state, bed not waiting) is logged, never raised into the bridge.
"""

from __future__ import annotations

import logging

from jobs.exceptions import JobError
from jobs.models import Job
from jobs.services import job_request_control
from jobs.services.bed import machine_bed_clear
from jobs.states import ACTIVE_STATES, ActorKind
from opcua import signals as opcua_signals

logger = logging.getLogger(__name__)


def on_bed_cleared(sender, machine_id, user, **kwargs) -> None:
    try:
        machine_bed_clear(machine_id=machine_id, actor_kind=ActorKind.OPCUA, actor_name=str(user))
    except JobError as exc:
        logger.info("OPC UA bed clear on %s by %s: %s", machine_id, user, exc.message)


def on_control(sender, machine_id, action, user, **kwargs) -> None:
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
    # The dispatch uids are the ones these receivers had in jobs.receivers (tests disconnect by them).
    opcua_signals.bed_cleared_requested.connect(on_bed_cleared, dispatch_uid="jobs.opcua.bed")
    opcua_signals.machine_control_requested.connect(on_control, dispatch_uid="jobs.opcua.control")
