"""Reads: which machines are in maintenance (one query for a fleet), counters, each plan's due status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from machines.models import MachineConfig
from maintenance.models import MachineCounters, MaintenanceMode, MaintenancePlan, MaintenanceRecord

OK, DUE, OVERDUE = "ok", "due", "overdue"


def maintenance_reasons_by_machine(machine_ids: Iterable) -> dict[str, str]:
    """Machines (str ids) that are in maintenance now, with the reason; one query."""
    ids = list(machine_ids)  # as given: UUIDs cost Django a third of what text does to prepare
    if not ids:
        return {}
    rows = MaintenanceMode.objects.filter(ended_at__isnull=True, machine_id__in=ids).values_list(
        "machine_id", "reason"
    )
    return {str(machine_id): reason for machine_id, reason in rows}


def maintenance_open(*, machine: MachineConfig) -> MaintenanceMode | None:
    return MaintenanceMode.objects.filter(machine=machine, ended_at__isnull=True).first()


def counters_for(*, machine: MachineConfig) -> MachineCounters:
    """The machine's counters (zero, commissioned at its creation, when nothing was recorded yet)."""
    counters = MachineCounters.objects.filter(machine=machine).first()
    return counters or MachineCounters(machine=machine, commissioned_at=machine.created_at)


def plans_for(*, machine: MachineConfig) -> QuerySet[MaintenancePlan]:
    return MaintenancePlan.objects.filter(
        Q(machine=machine) | Q(machine__isnull=True, machine_type=machine.machine_type), active=True
    )


@dataclass(frozen=True)
class PlanStatus:
    plan: MaintenancePlan
    status: str  # ok / due / overdue
    hours_since: float
    days_since: float
    last_done_at: datetime | None
    detail: str

    @property
    def overdue(self) -> bool:
        return self.status == OVERDUE


def plan_status(
    *,
    plan: MaintenancePlan,
    machine: MachineConfig,
    counters: MachineCounters | None = None,
    last: MaintenanceRecord | None = None,
    now: datetime | None = None,
) -> PlanStatus:
    """How far a machine is into a plan's interval: the larger share of hours or days decides."""
    counters = counters or counters_for(machine=machine)
    if last is None:
        last = MaintenanceRecord.objects.filter(machine=machine, plan=plan).order_by("-done_at").first()
    now = now or timezone.now()
    since_seconds = counters.print_seconds - (last.print_seconds_at if last else 0)
    basis_time = last.done_at if last else counters.commissioned_at
    hours = max(since_seconds, 0) / 3600
    days = max((now - basis_time).total_seconds(), 0) / 86400
    shares, parts = [], []
    if plan.every_print_hours:
        shares.append(hours / plan.every_print_hours)
        parts.append(f"{hours:.1f} of {plan.every_print_hours} print hours")
    if plan.every_days:
        shares.append(days / plan.every_days)
        parts.append(f"{days:.0f} of {plan.every_days} days")
    share = max(shares) if shares else 0.0
    status = OVERDUE if share >= 1 else DUE if share * 100 >= plan.due_soon_percent else OK
    return PlanStatus(plan, status, hours, days, last.done_at if last else None, ", ".join(parts))


def plan_statuses(*, machine: MachineConfig) -> list[PlanStatus]:
    counters = counters_for(machine=machine)
    latest: dict[int, MaintenanceRecord] = {}
    for record in MaintenanceRecord.objects.filter(machine=machine, plan__isnull=False).order_by("done_at"):
        latest[record.plan_id] = record
    return [
        plan_status(plan=plan, machine=machine, counters=counters, last=latest.get(plan.pk))
        for plan in plans_for(machine=machine)
    ]


def fleet_maintenance_summary(machines: Iterable[MachineConfig]) -> dict[str, dict]:
    """For the fleet board: per machine, maintenance reason (or "") and the worst plan status.

    Counters, plans and records for the whole fleet are read in four queries.
    """
    machines = list(machines)
    ids = [m.pk for m in machines]
    modes = maintenance_reasons_by_machine(ids)
    counters = {c.machine_id: c for c in MachineCounters.objects.filter(machine_id__in=ids)}
    plans = list(
        MaintenancePlan.objects.filter(active=True).filter(Q(machine_id__in=ids) | Q(machine__isnull=True))
    )
    latest: dict[tuple, MaintenanceRecord] = {}
    for record in MaintenanceRecord.objects.filter(machine_id__in=ids, plan__isnull=False).order_by(
        "done_at"
    ):
        latest[(record.machine_id, record.plan_id)] = record
    now = timezone.now()
    rank = {OK: 0, DUE: 1, OVERDUE: 2}
    result = {}
    for machine in machines:
        worst, worst_plan = OK, ""
        machine_counters = counters.get(machine.pk) or MachineCounters(
            machine=machine, commissioned_at=machine.created_at
        )
        for plan in plans:
            if plan.machine_id not in (None, machine.pk) or (
                plan.machine_id is None and plan.machine_type != machine.machine_type
            ):
                continue
            status = plan_status(
                plan=plan,
                machine=machine,
                counters=machine_counters,
                last=latest.get((machine.pk, plan.pk)),
                now=now,
            )
            if rank[status.status] > rank[worst]:
                worst, worst_plan = status.status, plan.name
        result[str(machine.pk)] = {
            "in_maintenance": str(machine.pk) in modes,
            "reason": modes.get(str(machine.pk), ""),
            "plan_status": worst,
            "plan": worst_plan,
        }
    return result
