"""The simulator's own behaviour: G-code timing, lazy progress, the command line, state-map coverage."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import CommandError, call_command

from drivers.moonraker import STATE_MAP as MOONRAKER_MAP
from drivers.octoprint import STATE_MAP as OCTOPRINT_MAP
from drivers.prusalink import STATE_MAP as PRUSALINK_MAP
from machines.machine_types.printer_state import PrinterStatus
from simulator import moonraker, octoprint, prusalink
from simulator.model import Phase, SimClock, SimConflict, SimPrinter, scan_bytes


def test_duration_comes_from_the_slicer_estimate_then_dwells_then_size():
    estimated = scan_bytes("a.gcode", b"G28\n; estimated printing time (normal mode) = 1h 2m 3s\nG4 S5\n")
    assert estimated.duration == 3723
    cura = scan_bytes("b.gcode", b";TIME:95\nG1 X1\n")
    assert cura.duration == 95
    dwells = scan_bytes("c.gcode", b"G4 S2\nG4 P500\ng4 s1 ; comment\n")
    assert dwells.duration == pytest.approx(3.5)
    plain = scan_bytes("d.gcode", b"G1 X1 Y1\n" * 4000)
    assert plain.duration == pytest.approx(36000 / 2000)


def test_heater_targets_are_read_from_the_gcode():
    file = scan_bytes("t.gcode", b"M140 S60\nM104 S215 T0\nM190 S60\nM109 S215\n")
    assert (file.tool_target, file.bed_target) == (215, 60)


class FakeClock(SimClock):
    def __init__(self):
        super().__init__(1.0)
        self.t = 0.0

    def now(self) -> float:
        return self.t


def test_state_advances_lazily_from_timestamps():
    clock = FakeClock()
    counters = {"prints_started": 0, "manual_prints_started": 0, "dirty_bed_starts": 0}
    printer = SimPrinter(1, "octoprint", "k", clock, counters)
    printer.files["p.gcode"] = scan_bytes(
        "p.gcode", b"M104 S41\n; estimated printing time (normal mode) = 100s\n"
    )
    printer.start("p.gcode")
    assert printer.phase is Phase.HEATING  # 21 -> 41 degrees at 4 degrees/s: 5 s
    clock.t = 55.0  # 5 s heating + 50 s printing
    printer.advance()
    assert printer.phase is Phase.PRINTING
    assert printer.job.progress(clock.t) == pytest.approx(50)
    printer.pause()
    clock.t = 500.0
    printer.advance()
    assert printer.phase is Phase.PAUSED
    assert printer.job.progress(clock.t) == pytest.approx(50)
    printer.resume()
    clock.t = 551.0  # 50 s more printing + 1 s finishing
    printer.advance()
    assert printer.phase is Phase.FINISHED
    assert printer.bed_clear is False
    with pytest.raises(SimConflict):
        printer.resume()
    printer.clear_bed()
    assert printer.phase is Phase.IDLE
    assert counters["prints_started"] == 1


@pytest.mark.parametrize(
    ("module", "table"),
    [(octoprint, OCTOPRINT_MAP), (prusalink, PRUSALINK_MAP), (moonraker, None)],
)
def test_every_state_the_simulator_reports_is_mapped(module, table):
    table = table or MOONRAKER_MAP
    for text in module.STATE_TEXT.values():
        assert text in table, text


def test_the_state_maps_cover_each_api_documented_states():
    for text in (
        "Offline",
        "Operational",
        "Printing",
        "Pausing",
        "Paused",
        "Resuming",
        "Cancelling",
        "Finishing",
        "Error",
        "Offline after error",
        "Starting",
        "Printing from SD",
        "Connecting",
    ):
        assert OCTOPRINT_MAP[text] is not PrinterStatus.UNKNOWN
    for text in ("IDLE", "BUSY", "PRINTING", "PAUSED", "FINISHED", "STOPPED", "ERROR", "ATTENTION", "READY"):
        assert text in PRUSALINK_MAP
    for text in ("standby", "printing", "paused", "complete", "cancelled", "error"):
        assert text in MOONRAKER_MAP


def test_simulate_fleet_command_serves_and_reports():
    out = io.StringIO()
    call_command(
        "simulate_fleet", count=4, personality="moonraker", port=0, duration=0.5, report_every=0, stdout=out
    )
    text = out.getvalue()
    assert "Simulating 4 moonraker printer(s)" in text
    assert "/p/<n>" in text
    assert "Simulator stopped." in text


def test_simulate_fleet_command_refuses_bad_arguments():
    with pytest.raises(CommandError, match="--count"):
        call_command("simulate_fleet", count=0, port=0, duration=0.1)
    with pytest.raises(CommandError, match="--speed"):
        call_command("simulate_fleet", count=1, speed=0, port=0, duration=0.1)


def test_control_api_summary_counts_prints(simulator, sim_printer):
    index = sim_printer("octoprint")
    before = requests.get(f"{simulator.url}/_sim", timeout=5).json()
    response = requests.post(
        f"{simulator.printer_url(index)}/api/files/local/sample_part.gcode",
        json={"command": "select", "print": True},
        headers={"X-Api-Key": simulator.api_key(index)},
        timeout=5,
    )
    assert response.status_code == 204
    after = requests.get(f"{simulator.url}/_sim", timeout=5).json()
    assert after["prints_started"] == before["prints_started"] + 1
    assert requests.get(f"{simulator.url}/_sim/printers/999", timeout=5).status_code == 404
