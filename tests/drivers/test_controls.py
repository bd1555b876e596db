"""Operator controls through the printer clients: the same tests against the simulator's personalities
and a real OctoPrint with its virtual printer (slow). A control the API does not offer raises
ControlNotSupported; the backends that offer it must do what it says."""

from __future__ import annotations

import pytest

from machines.machine_types.printer_controls import Control, ControlNotSupported, Jog
from machines.machine_types.printer_state import PrinterRejected, PrinterStatus


def offers(backend, control: Control) -> bool:
    if control in backend.client.CONTROLS:
        return True
    with pytest.raises(ControlNotSupported):
        {
            Control.PREHEAT: lambda: backend.client.set_temperatures(tool=200, bed=None),
            Control.HOME: lambda: backend.client.home([]),
            Control.JOG: lambda: backend.client.jog(Jog(x=1)),
            Control.FAN: lambda: backend.client.set_fan(50),
            Control.GCODE: lambda: backend.client.send_gcode_line("M117 hi"),
            Control.EMERGENCY_STOP: backend.client.emergency_stop,
        }[control]()
    return False


def hands(backend) -> dict | None:
    return backend.snapshot()["hands"] if backend.sim is not None else None


def test_preheat_sets_both_targets_and_cooldown_turns_them_off(backend):
    if not offers(backend, Control.PREHEAT):
        pytest.skip(f"{backend.personality} offers no temperature control")
    backend.client.set_temperatures(tool=190, bed=45)

    # Two commands, nozzle then bed: a real OctoPrint may report between them, with only the first.
    def targets(state) -> tuple:
        return tuple(getattr(state.temperatures.get(name), "target", None) for name in ("tool0", "bed"))

    state = backend.wait_for(lambda s: targets(s) == (190, 45), 15, "nozzle target 190 and bed target 45")
    assert state.status is PrinterStatus.IDLE  # heating by hand is not a print
    backend.client.set_temperatures(tool=0, bed=0)
    backend.wait_for(lambda s: set(targets(s)) <= {0, None}, 15, "both heaters off")


def test_home_jog_fan_speed_flow_and_a_gcode_line_reach_the_printer(backend):
    if not offers(backend, Control.HOME):
        pytest.skip(f"{backend.personality} offers no motion control")
    client = backend.client
    client.home(["x", "y"])
    client.jog(Jog(x=10, z=2.5))
    client.set_fan(50)
    client.set_speed_factor(120)
    client.set_flow_factor(95)
    client.send_gcode_line("M117 Lab MES says hello")
    assert client.get_state().status is PrinterStatus.IDLE
    seen = hands(backend)
    if seen is None:
        return  # a real OctoPrint answered 204 to each; its virtual printer has no position to read
    assert seen["homed"] == ["x", "y"] and seen["position"] == {"x": 10.0, "y": 0.0, "z": 2.5}
    assert (seen["fan"], seen["speed"], seen["flow"]) == (128, 120, 95)
    assert seen["gcode"][-1] == "M117 Lab MES says hello"


def test_a_file_already_on_the_printer_is_printed(backend):
    part = backend.gcode("stored part.gcode", seconds=20)
    backend.client.upload(part.path, part.name, part.sha256)
    backend.client.print_file(part.name)
    state = backend.wait_for(
        lambda s: s.status in (PrinterStatus.PRINTING, PrinterStatus.HEATING), 15, "printing"
    )
    assert state.job is not None and state.job.file_name.endswith(part.name)
    backend.client.cancel()
    backend.wait_not_active()


def test_the_printer_itself_refuses_to_jog_during_a_print(backend):
    if not offers(backend, Control.JOG):
        pytest.skip(f"{backend.personality} offers no motion control")
    part = backend.gcode("busy part.gcode", seconds=30)
    backend.client.upload(part.path, part.name, part.sha256)
    backend.client.start(part.name)
    backend.wait_for(lambda s: s.status in (PrinterStatus.PRINTING, PrinterStatus.HEATING), 15, "printing")
    with pytest.raises(PrinterRejected):
        backend.client.jog(Jog(x=10))
    backend.client.cancel()
    backend.wait_not_active()


def test_emergency_stop_halts_the_printer(backend):
    if not offers(backend, Control.EMERGENCY_STOP):
        pytest.skip(f"{backend.personality} offers no emergency stop")
    backend.client.emergency_stop()
    state = backend.wait_for(
        lambda s: s.status in (PrinterStatus.ERROR, PrinterStatus.DISCONNECTED), 20, "the firmware to halt"
    )
    assert state.status is not PrinterStatus.IDLE


def test_prusalink_offers_printing_a_stored_file_only(simulator, sim_printer, tmp_path):
    from tests.drivers.conftest import sim_backend

    backend = sim_backend("prusalink", simulator, sim_printer, tmp_path)
    assert {Control.PRINT_FILE} == backend.client.CONTROLS
    for control in (
        Control.PREHEAT,
        Control.HOME,
        Control.JOG,
        Control.FAN,
        Control.GCODE,
        Control.EMERGENCY_STOP,
    ):
        assert offers(backend, control) is False
