"""Reads for machines: configurations with their live state, built for a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from machines.models import MachineConfig, MachineState
from machines.state import LiveState, read_states
from machines.status import StatusClass


def machine_list(*, with_persisted_state: bool = True) -> QuerySet[MachineConfig]:
    """Machine configurations, by default joined with their persisted state.

    The persisted state is only the fallback for machines the cache does not know, so pass
    ``with_persisted_state=False`` for large pages: joining it means decoding every row's JSON columns
    although the cache usually answers; ``machine_live_states`` then loads the misses in one query.
    """
    queryset = MachineConfig.objects.all()
    return queryset.select_related("state") if with_persisted_state else queryset


def machine_live_states(machines: Iterable[MachineConfig]) -> dict[str, LiveState]:
    """Live state for the machines in one cache round trip.

    The cache-less fallback comes from ``MachineConfig.state`` when the machines were loaded with it
    (``machine_list()``), otherwise from one query for the cache misses (never one per machine).
    """
    machines = list(machines)
    related = MachineConfig.state.related
    rows: dict[str, MachineState | None] | None = None
    if all(related.is_cached(machine) for machine in machines):
        rows = {str(machine.pk): related.get_cached_value(machine) for machine in machines}
    return read_states([machine.pk for machine in machines], rows=rows)


def machine_ids_with_status_class(
    queryset: QuerySet[MachineConfig], status_class: StatusClass, *, default_status: dict[str, int]
) -> list[Any]:
    """Primary keys of machines (from ``queryset``) whose live status is in ``status_class``.

    ``default_status`` gives each machine type's default code for machines never seen.
    """
    machines = list(queryset.values_list("pk", "machine_type"))
    states = read_states([pk for pk, _ in machines])
    ids = []
    for pk, machine_type in machines:
        code = states[str(pk)].status
        if code is None:
            code = default_status.get(machine_type, 500)
        if StatusClass.for_code(code) == status_class:
            ids.append(pk)
    return ids
