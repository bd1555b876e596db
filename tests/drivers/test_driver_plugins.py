"""The built-in OctoPrint, PrusaLink and Moonraker driver plugins, used the way Lab MES uses them:
machines created through the machines services/API, polled and commanded through the registry,
against the simulator's personalities and (slow) a real OctoPrint."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from drivers.plugin import ClientPrinterDriver
from machines.machine_types.printer_3d import Printer3DStatus
from machines.machine_types.printer_state import PrinterUnauthorized
from machines.models import MachineConfig
from machines.registry import get_registry
from machines.services import machine_create, machine_settings_update
from plugins.services import plugin_deactivate
from simulator import ThreadedSimulator
from simulator.management.commands.simulate_fleet import machine_name, register_fleet
from tests.waiting import wait_until

from .conftest import SIM_SPEED

pytestmark = pytest.mark.django_db

PERSONALITIES = ["octoprint", "prusalink", "moonraker"]
FAST = {"CONNECT_TIMEOUT": 2, "READ_TIMEOUT": 5}


@pytest.fixture
def staff():
    user = get_user_model().objects.create_user("staff", password="pw-123456!", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


def add_machine(name: str, driver: str, **settings):
    config = machine_create(
        name=name, machine_type="printer-3d", driver=driver, settings={**FAST, **settings}
    )
    machine = get_registry().get_machine(config.pk)
    assert machine is not None and machine.initialized, machine and machine.state.errors
    return machine


def sim_machine(simulator, index: int, name: str | None = None, **settings):
    personality = simulator.fleet.get(index).personality
    settings = {"URL": simulator.printer_url(index), "API_KEY": simulator.api_key(index), **settings}
    return add_machine(name or f"{personality}-{index}", personality, **settings)


def control(simulator, index: int, method: str, path: str = "", **kwargs) -> dict:
    response = requests.request(method, f"{simulator.url}/_sim/printers/{index}{path}", timeout=10, **kwargs)
    assert response.ok, response.text
    return response.json()


def poll_until(machine, predicate: Callable[[int], bool], what: str, timeout: float = 15.0) -> None:
    """Poll through the registry (as the pollers do) until the machine's status code satisfies."""
    registry = get_registry()

    def reached() -> bool:
        registry.poll(machine)
        return predicate(machine.state.status)

    wait_until(
        reached, timeout=timeout, message=lambda: f"{machine.name}: {what}; status {machine.state.status}"
    )


def dwell_gcode(tmp_path: Path, name: str, real_seconds: float) -> tuple[Path, str]:
    lines = ["; Lab MES driver plugin test", "G90"] + [f"G4 S{SIM_SPEED:g}"] * round(real_seconds)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_built_in_plugin_provides_the_three_drivers_with_their_settings(registry):
    assert {"octoprint", "prusalink", "moonraker"} <= set(registry.drivers)
    assert {registry.driver_plugins[slug] for slug in PERSONALITIES} == {"printer-drivers"}
    assert registry.errors == []
    octoprint = registry.definitions_for("printer-3d", "octoprint")
    assert octoprint["URL"].required and octoprint["API_KEY"].required and octoprint["API_KEY"].secret
    prusalink = registry.definitions_for("printer-3d", "prusalink")
    assert prusalink["PASSWORD"].secret and prusalink["USERNAME"].default == "maker"
    assert prusalink["STORAGE"].default == "usb"
    assert registry.definitions_for("printer-3d", "moonraker")["TOOL_COUNT"].default == 1


@pytest.mark.parametrize("personality", PERSONALITIES)
def test_poll_through_the_registry_gives_live_state(registry, simulator, sim_printer, personality):
    index = sim_printer(personality)
    machine = sim_machine(simulator, index)

    assert registry.poll(machine) is not None
    state = machine.state
    assert state.status == Printer3DStatus.IDLE
    assert state.errors == []
    assert state.last_seen is not None
    assert state.data["printer_state"]["status"] == "idle"
    snapshot = control(simulator, index, "GET")
    assert state.property("tool0") == pytest.approx(snapshot["temperatures"]["tool0"]["actual"], abs=1)
    assert state.property("bed") == pytest.approx(snapshot["temperatures"]["bed"]["actual"], abs=1)
    assert state.property("tool0_target") == 0
    capabilities = machine.driver.capabilities(machine)
    assert capabilities.can_pause is True


@pytest.mark.parametrize("personality", PERSONALITIES)
def test_commands_through_the_driver_reach_the_printer(
    registry, simulator, sim_printer, personality, tmp_path
):
    index = sim_printer(personality)
    machine = sim_machine(simulator, index)
    driver = machine.driver
    path, sha256 = dwell_gcode(tmp_path, "bracket.gcode", real_seconds=30)

    driver.upload(machine, path, "bracket.gcode", sha256)
    assert "bracket.gcode" in {f.name for f in driver.list_files(machine)}
    driver.start(machine, "bracket.gcode")
    poll_until(machine, lambda s: s == Printer3DStatus.PRINTING, "printing")
    assert machine.state.property("job_file") == "bracket.gcode"

    driver.pause(machine)
    poll_until(machine, lambda s: s == Printer3DStatus.PAUSED, "paused")
    driver.resume(machine)
    poll_until(machine, lambda s: s == Printer3DStatus.PRINTING, "printing again")
    driver.cancel(machine)
    poll_until(
        machine,
        lambda s: s in (Printer3DStatus.IDLE, Printer3DStatus.AWAITING_BED_CLEAR),
        "the cancelled job to end",
    )

    snapshot = control(simulator, index, "GET")
    assert snapshot["prints_started"] == 1
    assert snapshot["starts_by_file"] == {"bracket.gcode": 1}
    control(simulator, index, "POST", "/clear-bed")
    driver.delete_file(machine, "bracket.gcode")
    assert "bracket.gcode" not in {f.name for f in driver.list_files(machine)}


@pytest.mark.parametrize("personality", PERSONALITIES)
def test_wrong_key_is_unauthorized_until_fixed_through_the_api(
    registry, simulator, sim_printer, staff, personality
):
    index = sim_printer(personality)
    machine = sim_machine(simulator, index, API_KEY="not-the-key")

    registry.poll(machine)
    state = machine.state
    assert state.status == Printer3DStatus.UNAUTHORIZED
    assert state.status_text == "The printer refused our credentials"
    assert any(error.startswith("Credentials refused") for error in state.errors), state.errors

    response = staff.patch(
        f"/api/machines/{machine.id}/settings/", {"API_KEY": simulator.api_key(index)}, format="json"
    )
    assert response.status_code == 200, response.content
    key_row = next(row for row in response.json() if row["key"] == "API_KEY")
    assert key_row["is_set"] is True and key_row["value"] is None  # write-only

    fixed = get_registry().get_machine(machine.id)  # the registry reloaded with the new settings
    get_registry().poll(fixed)
    assert fixed.state.status == Printer3DStatus.IDLE
    assert fixed.state.errors == []
    detail = staff.get(f"/api/machines/{machine.id}/").json()
    assert detail["live"]["status"]["code"] == 100


def test_a_process_that_does_not_own_the_machine_uses_new_settings_too(registry, simulator, sim_printer):
    """A worker calling driver methods on a machine it does not run still gets a fresh client."""
    index = sim_printer("octoprint")
    registry.set_ownership(lambda machine: False)  # no hooks run here: no init, no teardown
    config = machine_create(
        name="elsewhere",
        machine_type="printer-3d",
        driver="octoprint",
        settings={**FAST, "URL": simulator.printer_url(index), "API_KEY": "stale-key"},
    )
    machine = get_registry().get_machine(config.pk)
    assert not machine.running
    with pytest.raises(PrinterUnauthorized):
        machine.driver.get_state(machine)

    machine_settings_update(machine=config, settings={"API_KEY": simulator.api_key(index)})
    reloaded = get_registry().get_machine(config.pk)
    assert reloaded.driver.get_state(reloaded).status.value == "idle"


def test_prusalink_digest_login_and_missing_credentials(registry, simulator, sim_printer):
    index = sim_printer("prusalink")
    url = simulator.printer_url(index)
    digest = add_machine("mk4", "prusalink", URL=url, PASSWORD=simulator.api_key(index))
    registry.poll(digest)
    assert digest.state.status == Printer3DStatus.IDLE

    config = machine_create(
        name="mk4-bare", machine_type="printer-3d", driver="prusalink", settings={"URL": url}
    )
    bare = get_registry().get_machine(config.pk)
    assert not bare.initialized
    assert any("needs API_KEY or PASSWORD" in error for error in bare.state.errors), bare.state.errors


def test_bad_url_is_the_machines_error_not_a_crash(registry):
    config = machine_create(
        name="typo", machine_type="printer-3d", driver="moonraker", settings={"URL": "octopi.lab"}
    )
    machine = get_registry().get_machine(config.pk)
    assert not machine.initialized
    assert machine.state.status == Printer3DStatus.DRIVER_ERROR
    assert any("URL must start with http:// or https://" in e for e in machine.state.errors)


@pytest.mark.parametrize("personality", PERSONALITIES)
def test_printer_that_stops_answering_is_disconnected_with_last_seen_kept(
    registry, simulator, sim_printer, personality
):
    index = sim_printer(personality)
    machine = sim_machine(simulator, index)
    registry.poll(machine)
    seen = machine.state.last_seen
    assert seen is not None

    control(simulator, index, "POST", "/faults", json={"offline": True})
    assert registry.poll(machine) is None
    state = machine.state
    assert state.status == Printer3DStatus.DISCONNECTED
    assert state.status_text.startswith("Unreachable:") and "cannot connect" in state.status_text
    assert state.last_seen == seen

    control(simulator, index, "DELETE", "/faults")
    registry.poll(machine)
    assert machine.state.status == Printer3DStatus.IDLE
    assert machine.state.last_seen > seen


@pytest.mark.parametrize("personality", PERSONALITIES)
def test_garbage_is_an_error_on_that_machine_only(registry, simulator, sim_printer, personality):
    broken_index, fine_index = sim_printer(personality), sim_printer(personality)
    broken = sim_machine(simulator, broken_index)
    fine = sim_machine(simulator, fine_index)
    control(simulator, broken_index, "POST", "/faults", json={"malformed_json": True})

    registry.poll(broken)
    registry.poll(fine)
    assert broken.state.status == Printer3DStatus.ERROR
    assert any("not JSON" in error for error in broken.state.errors), broken.state.errors
    assert fine.state.status == Printer3DStatus.IDLE
    assert fine.state.errors == []
    control(simulator, broken_index, "DELETE", "/faults")


def test_each_machine_has_its_own_client_closed_on_teardown(registry, simulator, sim_printer, staff):
    first = sim_machine(simulator, sim_printer("moonraker"))
    second = sim_machine(simulator, sim_printer("moonraker"))
    driver = first.driver
    assert isinstance(driver, ClientPrinterDriver) and second.driver is driver
    with driver.client(first) as a, driver.client(second) as b:
        assert a is not b
    with driver.client(first) as again:
        assert again is a  # kept (one keep-alive session per machine)

    assert staff.patch(f"/api/machines/{first.id}/", {"active": False}, format="json").status_code == 200
    get_registry()
    assert not driver.has_client(first)  # teardown closed it
    assert driver.has_client(second)


def test_a_busy_client_serializes_callers(registry, simulator, sim_printer):
    """The poller and a worker on one machine never use its (not thread-safe) client at once."""
    machine = sim_machine(simulator, sim_printer("octoprint"))
    driver = machine.driver
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def worker():
        with driver.client(machine):
            inside.set()
            release.wait(5)
            order.append("worker done")

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    poller = threading.Thread(target=lambda: (driver.get_state(machine), order.append("poll done")))
    poller.start()
    time.sleep(0.2)
    assert order == []  # the poll waits for the worker
    release.set()
    thread.join(5)
    poller.join(5)
    assert order == ["worker done", "poll done"]


@pytest.mark.slow
def test_real_octoprint_polled_through_the_registry(registry, octoprint_server):
    machine = add_machine("octopi", "octoprint", URL=octoprint_server.url, API_KEY=octoprint_server.api_key)
    registry = get_registry()

    def idle_with_temperatures() -> bool:
        # Right after it connects, OctoPrint has not read the virtual printer's temperatures yet.
        if machine.state.status == Printer3DStatus.IDLE and machine.state.property("bed") is not None:
            return True
        registry.poll(machine)
        return False

    wait_until(
        idle_with_temperatures,
        timeout=30,
        interval=0.2,
        message=lambda: f"OctoPrint idle with temperatures; last {machine.state}",
    )
    state = machine.state
    assert state.errors == []
    assert isinstance(state.property("tool0"), float) and isinstance(state.property("bed"), float)
    assert machine.driver.capabilities(machine).max_file_size > 0


def test_simulate_fleet_register_creates_machines_once(registry):
    with ThreadedSimulator(4, "mixed", speed=SIM_SPEED) as sim:
        assert register_fleet(count=4, personality="mixed", base_url=sim.url) == (4, 0)
        machines = {m.name: m for m in MachineConfig.objects.filter(name__startswith="sim-")}
        assert sorted(machines) == ["sim-001", "sim-002", "sim-003", "sim-004"]
        assert [machines[machine_name(n)].driver for n in (1, 2, 3, 4)] == [
            "octoprint",
            "prusalink",
            "moonraker",
            "octoprint",
        ]
        registry = get_registry()
        for n in range(1, 5):
            machine = registry.get_machine(machines[machine_name(n)].pk)
            assert machine.get_setting("URL") == f"{sim.url}/p/{n}"
            assert machine.get_setting("LOADED_MATERIALS") == ["PLA"]
            assert machine.get_setting("BUILD_VOLUME_Z") == 250
            registry.poll(machine)
            assert machine.state.status == Printer3DStatus.IDLE, machine.state

        # Staff changed a material; the simulator moved to another port: re-register.
        machine_settings_update(machine=machines["sim-002"], settings={"LOADED_MATERIALS": ["PETG"]})
        assert register_fleet(count=4, personality="moonraker", base_url="http://127.0.0.1:9") == (0, 4)
        assert MachineConfig.objects.filter(name__startswith="sim-").count() == 4
        registry = get_registry()
        second = registry.get_machine(machines["sim-002"].pk)
        assert second.config.driver == "moonraker"
        assert second.get_setting("URL") == "http://127.0.0.1:9/p/2"
        assert second.get_setting("LOADED_MATERIALS") == ["PETG"]


def test_simulate_fleet_command_registers_then_serves(registry):
    out = io.StringIO()
    port = _free_port()
    for _ in range(2):
        call_command(
            "simulate_fleet", count=3, port=port, register=True, duration=0.2, report_every=0, stdout=out
        )
    text = out.getvalue()
    assert "Registered simulated machines: 3 new, 0 updated." in text
    assert "Registered simulated machines: 0 new, 3 updated." in text
    assert MachineConfig.objects.filter(name__startswith="sim-").count() == 3


def test_register_with_the_driver_plugin_inactive_fails_before_writing(registry):
    plugin_deactivate(slug="printer-drivers")
    with pytest.raises(CommandError, match=r"printer-drivers.*inactive"):
        call_command("simulate_fleet", count=2, port=18999, register=True, duration=0.1)
    assert not MachineConfig.objects.exists()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_poll_skips_a_machine_busy_with_a_long_operation(registry, simulator, sim_printer):
    """An upload holding the client must not hold a poller thread: the poll is skipped, not queued."""
    machine = sim_machine(simulator, sim_printer("prusalink"))
    registry.poll(machine)
    before = machine.state
    holding, release = threading.Event(), threading.Event()

    def long_upload():
        with machine.driver.client(machine):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=long_upload)
    thread.start()
    try:
        assert holding.wait(5)
        assert registry.poll(machine) is None
        assert machine.state.last_seen == before.last_seen  # nothing was read or written
    finally:
        release.set()
        thread.join(5)
    assert registry.poll(machine) is not None
    assert machine.state.last_seen > before.last_seen
