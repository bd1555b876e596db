"""Reads for machines: configurations with their live state, built for a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from machines.models import MachineConfig
from machines.state import LiveState, read_states
from machines.status import StatusClass


def machine_list() -> QuerySet[MachineConfig]:
    return MachineConfig.objects.select_related("state")


def machine_live_states(machines: Iterable[MachineConfig]) -> dict[str, LiveState]:
    """Live state for the machines in one cache round trip; the cache-less fallback comes from
    ``MachineConfig.state`` (load the machines with ``machine_list()`` so it costs no query)."""
    machines = list(machines)
    rows: dict[str, Any] = {}
    for machine in machines:
        rows[str(machine.pk)] = getattr(machine, "state", None) if hasattr(machine, "state") else None
    return read_states([m.pk for m in machines], rows=rows)


def machine_ids_with_status_class(
    queryset: QuerySet[MachineConfig], status_class: StatusClass, *, default_status: dict[str, int]
) -> list[Any]:
    """Primary keys of machines (from ``queryset``) whose live status is in ``status_class``.

    ``default_status`` gives each machine type's default code for machines never seen.
    """
    machines = list(queryset)
    states = machine_live_states(machines)
    ids = []
    for machine in machines:
        code = states[str(machine.pk)].status
        if code is None:
            code = default_status.get(machine.machine_type, 500)
        if StatusClass.for_code(code) == status_class:
            ids.append(machine.pk)
    return ids
