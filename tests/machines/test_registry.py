"""The machine registry: types, drivers, settings gating, hooks and fault isolation."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from machines.machine_types.printer_3d import Printer3DStatus
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterJobInfo,
    PrinterState,
    PrinterStatus,
    PrinterUnauthorized,
    PrinterUnreachable,
    Temperature,
)
from machines.models import MachineConfig, MachineState
from machines.registry import get_registry
from machines.services import machine_create, machine_delete, machine_set_active, machine_update
from machines.signals import machine_became_idle, machine_status_changed
from machines.state import read_state

pytestmark = pytest.mark.django_db


def make_printer(name="P1", **settings):
    settings = {"HOST": "printer.local", **settings}
    return machine_create(name=name, machine_type="printer-3d", driver="dummy-printer", settings=settings)


def test_builtin_types_and_plugin_drivers_are_registered(registry):
    assert {"printer-3d", "label-printer"} <= set(registry.machine_types)
    assert registry.get_driver("dummy-printer").machine_type == "printer-3d"
    assert registry.get_driver("dummy-label").machine_type == "label-printer"
    assert registry.driver_plugins["dummy-printer"] == "dummy"
    assert registry.errors == []


def test_machine_is_initialized_with_hooks_in_order(registry):
    make_printer("P1")
    make_printer("P2")
    registry = get_registry()
    driver = registry.get_driver("dummy-printer")
    # init_driver runs once per process, before the first init_machine
    assert driver.calls[:2] == [("init_driver", "P1"), ("init_machine", "P1")]
    assert [hook for hook, _ in driver.calls].count("init_driver") == 1
    assert driver.calls_for("P1") == ["init_machine"]
    machine = registry.get_machine(MachineConfig.objects.get(name="P1").pk)
    assert machine.running and machine.initialized
    assert machine.get_setting("PORT") == 80  # default applied
    assert machine.get_setting("HOST") == "printer.local"


def test_missing_required_setting_keeps_machine_uninitialized(registry):
    config = machine_create(name="NoHost", machine_type="printer-3d", driver="dummy-printer")
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    assert machine.config_errors == ["Missing required settings: HOST"]
    assert not machine.running and not machine.initialized
    assert registry.get_driver("dummy-printer").calls_for("NoHost") == []
    # supplying the setting starts it
    machine_update(machine=config, settings={"HOST": "10.0.0.5"})
    machine = get_registry().get_machine(config.pk)
    assert machine.config_errors == [] and machine.initialized
    assert registry.get_driver("dummy-printer").calls_for("NoHost") == ["init_machine"]


def test_failing_hook_is_that_machines_error_only(registry):
    driver = registry.get_driver("dummy-printer")
    driver.fail[("init_machine", "Bad")] = RuntimeError("socket exploded")
    make_printer("Bad")
    make_printer("Good")
    registry = get_registry()
    bad = registry.get_machine(MachineConfig.objects.get(name="Bad").pk)
    good = registry.get_machine(MachineConfig.objects.get(name="Good").pk)
    assert not bad.initialized and not bad.running
    assert bad.state.errors == ["init_machine failed: RuntimeError: socket exploded"]
    assert bad.state.status == Printer3DStatus.DRIVER_ERROR
    assert good.initialized and good.state.errors == []


def test_deactivate_change_driver_and_delete_call_teardown(registry):
    config = make_printer("P1")
    driver = get_registry().get_driver("dummy-printer")
    machine_set_active(machine=config, active=False)
    assert not get_registry().get_machine(config.pk).initialized
    machine_set_active(machine=config, active=True)
    get_registry()
    assert driver.calls_for("P1") == ["init_machine", "teardown_machine", "init_machine"]

    # name change: update_machine, no restart; settings change: update_machine -> restart
    machine_update(machine=config, name="P1-renamed")
    machine_update(machine=config, settings={"PORT": 8080})
    get_registry()
    assert driver.calls_for("P1-renamed") == [
        "update_machine",
        "update_machine",
        "restart_machine",
        "teardown_machine",
        "init_machine",
    ]

    # changing the driver tears down with the old driver and initializes with the new one
    machine_update(machine=config, machine_type="label-printer", driver="dummy-label")
    get_registry()
    assert driver.calls_for("P1-renamed")[-1] == "teardown_machine"
    assert get_registry().get_machine(config.pk).initialized
    assert not MachineConfig.objects.get(pk=config.pk).settings.filter(key="HOST").exists()

    other = make_printer("P2")
    get_registry()
    machine_delete(machine=other)
    get_registry()
    assert driver.calls_for("P2") == ["init_machine", "teardown_machine"]
    assert get_registry().get_machine(other.pk) is None


def test_poll_maps_printer_state_to_status_and_properties(registry):
    config = make_printer("P1")
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    driver = registry.get_driver("dummy-printer")
    driver.states["P1"] = PrinterState(
        status=PrinterStatus.PRINTING,
        temperatures={"tool0": Temperature(210.0, 215.0), "bed": Temperature(60.0, 60.0)},
        job=PrinterJobInfo(file_name="cube.gcode", progress=42.5, time_left=600),
        raw_state="Printing",
    )
    registry.poll(machine)
    state = machine.state
    assert state.status == Printer3DStatus.PRINTING
    assert state.property("tool0") == 210.0 and state.property("bed_target") == 60.0
    progress = next(p for p in state.properties if p["key"] == "job_progress")
    assert progress == {
        "key": "job_progress",
        "value": 42.5,
        "group": "job",
        "type": "progress",
        "max": 100,
        "unit": "",
    }
    assert state.data["printer_state"]["job"]["file_name"] == "cube.gcode"
    assert state.last_seen is not None and not state.stale

    driver.states["P1"] = PrinterUnreachable("connection refused")
    registry.poll(machine)
    assert machine.state.status == Printer3DStatus.DISCONNECTED
    assert machine.state.status_text == "Unreachable: connection refused"

    driver.states["P1"] = PrinterUnauthorized("HTTP 403")
    registry.poll(machine)
    assert machine.state.status == Printer3DStatus.UNAUTHORIZED
    assert "Credentials refused: HTTP 403" in machine.state.errors


def test_bad_response_is_an_error_on_that_machine_only(registry):
    p1, p2 = make_printer("P1"), make_printer("P2")
    registry = get_registry()
    driver = registry.get_driver("dummy-printer")
    driver.states["P1"] = PrinterBadResponse("HTTP 500")
    for config in (p1, p2):
        registry.poll(registry.get_machine(config.pk))
    assert read_state(p1.pk).status == Printer3DStatus.ERROR
    assert read_state(p1.pk).errors == ["PrinterBadResponse: HTTP 500"]
    assert read_state(p2.pk).status == Printer3DStatus.IDLE
    assert read_state(p2.pk).errors == []


def test_status_signals_and_became_idle(registry):
    config = make_printer("P1")
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    driver = registry.get_driver("dummy-printer")
    changes, idles = [], []
    machine_status_changed.connect(
        lambda **kw: changes.append((kw["old_status"], kw["new_status"])), weak=False, dispatch_uid="t1"
    )
    machine_became_idle.connect(lambda **kw: idles.append(kw["machine"].name), weak=False, dispatch_uid="t2")
    try:
        driver.states["P1"] = PrinterState(status=PrinterStatus.PRINTING)
        registry.poll(machine)
        driver.states["P1"] = PrinterState(status=PrinterStatus.IDLE)
        registry.poll(machine)
        registry.poll(machine)  # no change, no signal
    finally:
        machine_status_changed.disconnect(dispatch_uid="t1")
        machine_became_idle.disconnect(dispatch_uid="t2")
    # The print was none of ours (an external one, recorded by the jobs app): once it is over, the
    # plate must be cleared before the next job, so the printer goes on to "awaiting bed clear".
    assert changes == [(Printer3DStatus.UNKNOWN, 111), (111, 100), (100, Printer3DStatus.AWAITING_BED_CLEAR)]
    assert idles == ["P1"]


def test_state_survives_a_cache_flush_and_is_marked_stale(registry):
    config = make_printer("P1")
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    registry.get_driver("dummy-printer").states["P1"] = PrinterState(
        status=PrinterStatus.PAUSED, message="Filament"
    )
    registry.poll(machine)
    assert MachineState.objects.get(pk=config.pk).status == Printer3DStatus.PAUSED
    cache.clear()
    state = read_state(config.pk)
    assert state.source == "database" and state.stale
    assert state.status == Printer3DStatus.PAUSED and state.status_text == "Filament"
    assert state.initialized and state.last_seen is not None


def test_unchanged_polls_do_not_write_the_database(registry, django_assert_num_queries):
    config = make_printer("P1")
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    registry.poll(machine)
    if registry_uses_database_cache():
        pytest.skip("the database cache itself issues queries; checked on the Redis pass")
    with django_assert_num_queries(0):
        registry.poll(machine)


def registry_uses_database_cache() -> bool:
    from django.conf import settings

    return settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")


def test_shutdown_tears_everything_down(registry):
    make_printer("P1")
    make_printer("P2")
    registry = get_registry()
    registry.shutdown()
    driver = registry.get_driver("dummy-printer")
    assert [h for h, _ in driver.calls].count("teardown_machine") == 2
    assert not any(m.running for m in registry.machines())


def test_ownership_policy_only_owner_calls_hooks(registry):
    make_printer("Mine")
    make_printer("Theirs")
    registry = get_registry()
    driver = registry.get_driver("dummy-printer")
    registry.set_ownership(lambda machine: machine.name == "Mine")
    assert driver.calls_for("Theirs") == ["init_machine", "teardown_machine"]
    assert driver.calls_for("Mine") == ["init_machine"]
    registry.set_ownership(lambda machine: False)
    assert driver.calls_for("Mine") == ["init_machine", "teardown_machine"]
