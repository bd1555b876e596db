"""make run's simulated fleet starts with spools loaded and maintenance plans, seeded idempotently."""

from __future__ import annotations

import pytest

from machines.models import MachineConfig
from maintenance.models import MaintenancePlan
from materials.models import MaterialType, Spool, SpoolLoad
from mes.signals import demo_fleet_registered

pytestmark = pytest.mark.django_db


def test_the_demo_fleet_gets_spools_and_plans_once():
    ids = [
        MachineConfig.objects.create(name=f"sim-{n:03d}", machine_type="printer-3d", driver="octoprint").pk
        for n in range(1, 9)
    ]
    demo_fleet_registered.send(sender=None, machine_ids=ids)
    demo_fleet_registered.send(sender=None, machine_ids=ids)  # every `make run`
    assert set(MaterialType.objects.values_list("name", flat=True)) == {"PLA", "PETG", "ABS", "ASA", "TPU"}
    loaded = SpoolLoad.objects.filter(unloaded_at__isnull=True)
    assert sorted(loaded.values_list("machine__name", flat=True)) == [f"sim-{n:03d}" for n in range(1, 9)]
    assert Spool.objects.count() == 8 + 3
    assert MaintenancePlan.objects.filter(machine_type="printer-3d").count() == 2
