"""Reads for federation: what a partner may see of our machines and its statistics.

Machine data comes from the machines app's configuration (``MachineSetting`` of printer-3d
machines). Live state, queue length and estimated wait come from ``machine_live_statuses``, the one
place that reads the machine registry and the jobs queue for partners.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from decimal import Decimal

from django.db.models import Count, Q, Sum

from federation.jobs_gateway import queue_jobs
from federation.models import IncomingJob, Partner
from machines.models import MachineConfig, MachineSetting
from machines.registry import get_registry
from machines.state import read_states
from machines.status import describe_status


def _setting_values(machine_ids: list) -> dict:
    values: dict = {}
    rows = MachineSetting.objects.filter(
        machine_id__in=machine_ids, config_type=MachineSetting.ConfigType.MACHINE
    ).values_list("machine_id", "key", "value")
    for machine_id, key, value in rows:
        values.setdefault(machine_id, {})[key] = value
    return values


def _as_float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _as_list(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(item) for item in data] if isinstance(data, list) else []


def machine_live_statuses(machines: list[MachineConfig]) -> dict:
    """State, queue length and estimated wait for each machine, with one cache read and two queries.

    The queue length counts the waiting jobs this machine could take (same machine type, or named for
    it); the estimated wait is the time left on its current print plus the G-code estimates of those
    jobs shared over the active machines of that type — a rough figure for a partner deciding where
    to send work, not a promise.
    """
    if not machines:
        return {}
    registry = get_registry()
    states = read_states([m.pk for m in machines])
    waiting = list(
        queue_jobs().values_list("machine_type", "target_machine_id", "metadata__estimated_time_s")
    )
    per_type = Counter(m.machine_type for m in MachineConfig.objects.filter(active=True))
    result = {}
    for machine in machines:
        state = states[str(machine.pk)]
        machine_type = registry.get_machine_type(machine.machine_type)
        described = describe_status(machine_type.MACHINE_STATUS if machine_type else None, state.status)
        mine = [
            seconds or 0
            for job_type, target, seconds in waiting
            if target == machine.pk or (target is None and job_type == machine.machine_type)
        ]
        time_left = state.property("job_time_left") or 0
        share = max(per_type.get(machine.machine_type, 1), 1)
        result[machine.pk] = {
            "state": str(described["label"]).lower().replace(" ", "_"),
            "stale": state.stale,
            "queue_length": len(mine),
            "estimated_wait_seconds": round(float(time_left) + sum(mine) / share),
        }
    return result


def shared_machines_for_partner(*, partner: Partner) -> list[MachineConfig]:
    """Active machines the partner may see: all when ``share_all_machines``, else the chosen ones
    and those carrying one of ``shared_tags``."""
    machines = list(MachineConfig.objects.filter(active=True).order_by("name"))
    if partner.share_all_machines:
        return machines
    chosen = set(partner.shared_machines.values_list("pk", flat=True))
    wanted_tags = set(partner.shared_tags or [])
    settings = _setting_values([m.pk for m in machines]) if wanted_tags else {}
    return [
        machine
        for machine in machines
        if machine.pk in chosen or wanted_tags & set(_as_list(settings.get(machine.pk, {}).get("TAGS")))
    ]


def machine_availability_for_partner(*, partner: Partner) -> list[dict]:
    machines = shared_machines_for_partner(partner=partner)
    settings = _setting_values([m.pk for m in machines])
    live = machine_live_statuses(machines)
    result = []
    for machine in machines:
        values = settings.get(machine.pk, {})
        result.append(
            {
                "id": str(machine.pk),
                "name": machine.name,
                "machine_type": machine.machine_type,
                "materials": _as_list(values.get("LOADED_MATERIALS")),
                "nozzle_diameter": _as_float(values.get("NOZZLE_DIAMETER")),
                "build_volume": {
                    axis: _as_float(values.get(f"BUILD_VOLUME_{axis.upper()}")) for axis in ("x", "y", "z")
                },
                "tags": _as_list(values.get("TAGS")),
                **live[machine.pk],
            }
        )
    return result


def etag_for(data) -> str:
    return '"' + hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32] + '"'


def partner_stats(*, partner: Partner) -> dict:
    """Jobs this lab did for the partner: counts, hours printed and success rate."""
    states = IncomingJob.State
    totals = partner.incoming_jobs.aggregate(
        submitted=Count("pk"),
        accepted=Count("pk", filter=~Q(state__in=[states.PENDING, states.REJECTED])),
        completed=Count("pk", filter=Q(state=states.COMPLETED)),
        failed=Count("pk", filter=Q(state=states.FAILED)),
        cancelled=Count("pk", filter=Q(state=states.CANCELLED)),
        rejected=Count("pk", filter=Q(state=states.REJECTED)),
        seconds=Sum("printed_seconds"),
    )
    finished = totals["completed"] + totals["failed"]
    seconds = totals.pop("seconds") or 0
    return {
        **totals,
        "hours_printed": float(round(Decimal(seconds) / Decimal(3600), 2)),
        "success_rate": round(totals["completed"] / finished, 3) if finished else None,
    }


def partner_for_key_id(*, key_id: str) -> Partner | None:
    instance_id, _, _ = key_id.partition("/")
    try:
        parsed = uuid.UUID(instance_id)
    except ValueError:
        return None
    return Partner.objects.filter(instance_id=parsed).first()
