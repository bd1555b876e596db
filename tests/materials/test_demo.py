"""make run's simulated fleet starts with spools loaded and maintenance plans, seeded idempotently."""

from __future__ import annotations

import io
import socket

import pytest
from django.core.management import call_command
from django.test import Client

from machines.models import MachineConfig
from machines.registry import reset_registry
from maintenance.models import MaintenancePlan
from materials.models import MaterialType, Spool, SpoolLoad
from mes.management.commands.up import child_specs
from mes.signals import demo_fleet_registered
from plugins.registry import reset_plugin_registry

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


def test_make_runs_simulated_fleet_starts_with_spools_loaded_and_a_service_due(admin_user):
    [simulator] = [
        spec
        for spec in child_specs(bind="127.0.0.1:8000", web_workers=1, simulate=8)
        if spec.name == "simulator"
    ]
    assert "--register" in simulator.argv and "--demo" in simulator.argv
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reset_plugin_registry()
    reset_registry()
    try:
        call_command(
            "simulate_fleet",
            count=3,
            port=port,
            register=True,
            demo=True,
            duration=0.2,
            report_every=0,
            stdout=io.StringIO(),
        )
    finally:
        reset_registry()
        reset_plugin_registry()
    loaded = SpoolLoad.objects.filter(unloaded_at__isnull=True)
    assert sorted(loaded.values_list("machine__name", "spool__material__name")) == [
        ("sim-001", "PLA"),
        ("sim-002", "PLA"),
        ("sim-003", "PETG"),
    ]
    browser = Client()
    browser.force_login(admin_user)
    board = browser.get("/fleet/live/").content.decode()
    assert (
        "T0 <strong>PETG</strong> Orange" in board and '<span class="spool-remaining">930 g</span>' in board
    )
    assert 'Service due</span> <span class="muted">Lubricate rods and lead screws' in board  # sim-002
