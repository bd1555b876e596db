"""The periodic sweep puts a machine into maintenance when a time-based plan is overdue and says so;
a plan for one machine concerns only that machine, and a plan without auto_maintenance only warns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from machines.models import MachineConfig
from maintenance.models import MachineCounters, MaintenanceMode, MaintenancePlan
from maintenance.selectors import maintenance_reasons_by_machine, plan_statuses
from maintenance.services import maintenance_sweep
from mes.engine import schedule

pytestmark = pytest.mark.django_db


def printer(name: str, *, age_days: int) -> MachineConfig:
    machine = MachineConfig.objects.create(name=name, machine_type="printer-3d", driver="simulator")
    MachineCounters.objects.create(machine=machine, commissioned_at=timezone.now() - timedelta(days=age_days))
    return machine


def test_the_sweep_enforces_only_overdue_plans_that_ask_for_it_on_the_machines_they_cover():
    old, other, young = (
        printer("old", age_days=200),
        printer("other", age_days=200),
        printer("young", age_days=10),
    )
    MaintenancePlan.objects.create(name="Belt check", machine=old, every_days=180, auto_maintenance=True)
    MaintenancePlan.objects.create(name="Fan clean", machine_type="printer-3d", every_days=150)
    MaintenancePlan.objects.create(
        name="Hotend check", machine_type="printer-3d", every_days=30, auto_maintenance=True
    )
    assert {s.plan.name: s.status for s in plan_statuses(machine=other)} == {
        "Fan clean": "overdue",
        "Hotend check": "overdue",
    }
    assert maintenance_sweep() == 2
    reasons = maintenance_reasons_by_machine([old.pk, other.pk, young.pk])
    assert reasons[str(other.pk)].startswith("Hotend check is overdue (200 of 30 days")
    assert reasons[str(old.pk)].split(" is overdue")[0] in ("Belt check", "Hotend check")
    assert str(young.pk) not in reasons  # 10 of 30 days: not even due
    assert MaintenanceMode.objects.filter(automatic=True).count() == 2
    assert maintenance_sweep() == 2 and MaintenanceMode.objects.count() == 2  # idempotent


def test_the_sweep_runs_every_ten_minutes():
    [entry] = [e for e in schedule().entries() if e.name == "maintenance.sweep"]
    assert (entry.task, entry.seconds) == ("maintenance.tasks.maintenance_sweep", 600)
