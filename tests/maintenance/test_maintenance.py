"""Plans fall due by print hours or days, maintenance mode comes and goes, work done resets counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from machines.models import MachineConfig
from maintenance.models import MachineCounters, MaintenanceMode, MaintenancePlan
from maintenance.selectors import maintenance_reasons_by_machine, plan_statuses
from maintenance.services import (
    MaintenanceConflict,
    MaintenanceError,
    machine_usage_record,
    maintenance_complete,
    maintenance_end,
    maintenance_start,
    maintenance_sweep,
    out_of_order_report,
    out_of_order_resolve,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("tech", is_staff=True)


@pytest.fixture
def machine(db):
    return MachineConfig.objects.create(name="mk4", machine_type="printer-3d", driver="simulator")


def print_hours(machine, hours: float, *, failed: bool = False, n: int = 1) -> None:
    for _ in range(n):
        machine_usage_record(
            job_id=__import__("uuid").uuid4(),
            machine_id=machine.pk,
            print_seconds=hours * 3600 / n,
            filament_grams=10.0,
            failed=failed,
        )


def statuses(machine) -> dict[str, str]:
    return {s.plan.name: s.status for s in plan_statuses(machine=machine)}


def test_usage_is_counted_once_per_job(machine):
    job = "9a4e8f40-0000-4000-8000-000000000001"
    assert machine_usage_record(
        job_id=job, machine_id=machine.pk, print_seconds=3600, filament_grams=12.5, failed=True
    )
    assert not machine_usage_record(
        job_id=job, machine_id=machine.pk, print_seconds=3600, filament_grams=12.5, failed=True
    )
    counters = MachineCounters.objects.get(machine=machine)
    assert (counters.print_seconds, counters.jobs, counters.failed_jobs, str(counters.filament_grams)) == (
        3600,
        1,
        1,
        "12.50",
    )


def test_a_plan_is_due_then_overdue_by_print_hours_and_the_work_resets_it(machine, staff):
    plan = MaintenancePlan.objects.create(
        name="Lubricate rods", machine_type="printer-3d", every_print_hours=200
    )
    print_hours(machine, 150)
    assert statuses(machine) == {"Lubricate rods": "ok"}
    print_hours(machine, 35)  # 185 of 200 h: ≥ 90 %
    assert statuses(machine) == {"Lubricate rods": "due"}
    print_hours(machine, 20)
    assert statuses(machine) == {"Lubricate rods": "overdue"}
    record = maintenance_complete(machine=machine, plan=plan, user=staff, notes="PTFE grease on X and Y")
    assert record.done_by == staff and record.print_seconds_at == 205 * 3600
    assert statuses(machine) == {"Lubricate rods": "ok"}
    counters = MachineCounters.objects.get(machine=machine)
    assert (counters.print_seconds, counters.service_print_seconds, counters.service_jobs) == (
        205 * 3600,
        0,
        0,
    )
    assert counters.jobs == 3  # since commissioning: kept


def test_a_time_based_plan_falls_due_without_printing(machine):
    MaintenancePlan.objects.create(name="Belt check", machine=machine, every_days=180)
    MachineCounters.objects.create(machine=machine, commissioned_at=timezone.now() - timedelta(days=200))
    assert statuses(machine) == {"Belt check": "overdue"}


def test_an_overdue_plan_that_says_so_puts_the_machine_into_maintenance(machine, staff):
    plan = MaintenancePlan.objects.create(
        name="Nozzle change", machine_type="printer-3d", every_print_hours=10, auto_maintenance=True
    )
    print_hours(machine, 9)
    assert maintenance_reasons_by_machine([machine.pk]) == {}
    print_hours(machine, 2)  # the job's end makes it overdue: maintenance at once
    reason = maintenance_reasons_by_machine([machine.pk])[str(machine.pk)]
    assert reason.startswith("Nozzle change is overdue (11.0 of 10 print hours")
    assert MaintenanceMode.objects.get(machine=machine).automatic
    assert maintenance_sweep() == 1  # idempotent: still the one open maintenance
    assert MaintenanceMode.objects.filter(machine=machine).count() == 1
    maintenance_complete(machine=machine, plan=plan, user=staff, notes="0.4 mm brass")
    assert maintenance_reasons_by_machine([machine.pk]) == {}


def test_maintenance_mode_needs_a_reason_and_refuses_twice(machine, staff):
    with pytest.raises(MaintenanceError, match="reason"):
        maintenance_start(machine=machine, reason=" ", user=staff)
    maintenance_start(machine=machine, reason="firmware update", user=staff)
    with pytest.raises(MaintenanceConflict, match="already in maintenance: firmware update"):
        maintenance_start(machine=machine, reason="again", user=staff)
    maintenance_end(machine=machine, user=staff)
    with pytest.raises(MaintenanceConflict, match="not in maintenance"):
        maintenance_end(machine=machine, user=staff)


def test_out_of_order_keeps_the_machine_out_until_resolved(machine, staff):
    report = out_of_order_report(machine=machine, user=staff, reason="extruder clicks")
    assert maintenance_reasons_by_machine([machine.pk]) == {str(machine.pk): "out of order: extruder clicks"}
    with pytest.raises(MaintenanceConflict, match="resolve the report first"):
        maintenance_end(machine=machine, user=staff)
    maintenance_complete(machine=machine, user=staff, notes="cleaned the drive gear")
    assert maintenance_reasons_by_machine([machine.pk])  # still out: the report is open
    out_of_order_resolve(report=report, user=staff, resolution="gear cleaned")
    maintenance_end(machine=machine, user=staff)
    assert maintenance_reasons_by_machine([machine.pk]) == {}


def test_work_for_a_plan_of_another_machine_type_is_refused(machine, staff):
    plan = MaintenancePlan.objects.create(name="Resin vat", machine_type="printer-sla", every_days=30)
    with pytest.raises(MaintenanceError, match="does not apply to mk4"):
        maintenance_complete(machine=machine, plan=plan, user=staff)
    with pytest.raises(MaintenanceError, match="say what was done"):
        maintenance_complete(machine=machine, user=staff)


def test_maintenance_start_and_end_are_events(machine, staff):
    from events.models import Event

    maintenance_start(machine=machine, reason="belt swap", user=staff)
    maintenance_end(machine=machine, user=staff)
    events = list(
        Event.objects.filter(machine_id=machine.pk)
        .order_by("sequence")
        .values_list("type", "payload", "actor")
    )
    assert [(t, p["reason"], a) for t, p, a in events] == [
        ("machine.maintenance", "belt swap", "tech"),
        ("machine.maintenance_ended", "belt swap", "tech"),
    ]
