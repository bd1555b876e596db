"""Every fault the issue lists, shown through the clients: simulator faults and a real firmware error."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from drivers import OctoPrintClient, PrusaLinkClient
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterRejected,
    PrinterStatus,
    PrinterUnauthorized,
    PrinterUnreachable,
)
from tests.waiting import wait_until

from .conftest import octoprint_backend, sim_backend

PERSONALITIES = ["octoprint", "prusalink", "moonraker"]


@pytest.fixture(params=PERSONALITIES)
def sim(request, simulator, sim_printer, tmp_path):
    backend = sim_backend(request.param, simulator, sim_printer, tmp_path)
    yield backend
    backend.client.close()


def set_faults(backend, **faults):
    response = backend.control("POST", "/faults", json=faults)
    assert response.status_code == 200, response.text


def test_key_changed_at_the_printer_is_unauthorized_until_settings_are_fixed(sim):
    assert sim.control("PUT", "/api-key", json={"api_key": "rotated-key"}).status_code == 200
    with pytest.raises(PrinterUnauthorized):
        sim.client.get_state()
    with pytest.raises(PrinterUnauthorized):
        sim.client.pause()
    fixed = sim.make_client(api_key="rotated-key")
    assert fixed.get_state().status is PrinterStatus.IDLE
    fixed.close()


def test_offline_printer_is_unreachable_and_recovers(sim):
    set_faults(sim, offline=True)
    with pytest.raises(PrinterUnreachable):
        sim.client.get_state()
    set_faults(sim, offline=False)
    assert sim.client.get_state().status is PrinterStatus.IDLE


def test_nothing_listening_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OctoPrintClient(f"http://127.0.0.1:{port}", api_key="x", connect_timeout=1, read_timeout=1)
    with pytest.raises(PrinterUnreachable, match="cannot connect"):
        client.get_state()


def test_http_500_is_a_bad_response(sim):
    set_faults(sim, http_500=True)
    with pytest.raises(PrinterBadResponse, match="500"):
        sim.client.get_state()


def test_malformed_json_is_a_bad_response_on_that_printer_only(sim, simulator, sim_printer, tmp_path):
    set_faults(sim, malformed_json=True)
    with pytest.raises(PrinterBadResponse, match="not JSON"):
        sim.client.get_state()
    with pytest.raises(PrinterBadResponse):
        sim.client.list_files()
    neighbour = sim_backend(sim.personality, simulator, sim_printer, tmp_path)
    assert neighbour.client.get_state().status is PrinterStatus.IDLE


def test_unknown_state_string_is_unknown_with_a_warning_not_a_crash(sim, caplog):
    set_faults(sim, unknown_state="Sparkling")
    with caplog.at_level(logging.WARNING, logger="drivers.base"):
        state = sim.client.get_state()
    assert state.status is PrinterStatus.UNKNOWN
    assert state.raw_state == "Sparkling"
    assert "'Sparkling'" in caplog.text


def test_octoprint_transient_finishing_state_is_mapped_not_fatal(simulator, sim_printer, tmp_path):
    """The Monash workers died on OctoPrint's "Finishing": it must map to FINISHING."""
    backend = sim_backend("octoprint", simulator, sim_printer, tmp_path)
    set_faults(backend, unknown_state="Finishing")
    assert backend.client.get_state().status is PrinterStatus.FINISHING


def test_read_timeout_is_honoured(sim):
    set_faults(sim, timeout=30)
    client = sim.make_client(read_timeout=0.3)
    began = time.monotonic()
    with pytest.raises(PrinterUnreachable, match=r"no answer within 0\.3s"):
        client.get_state()
    assert time.monotonic() - began < 5  # gave up at the timeout, not after the printer's 30 s
    client.close()


def test_slow_printer_within_the_timeout_still_answers(sim):
    set_faults(sim, slow=0.2)
    assert sim.make_client(read_timeout=5).get_state().status is PrinterStatus.IDLE


def test_flapping_state_alternates_without_errors(sim):
    set_faults(sim, flapping=0.3)
    seen = set()

    def both_seen() -> bool:
        seen.add(sim.client.get_state().status)
        return len(seen) >= 2

    wait_until(both_seen, timeout=10, message=lambda: f"two statuses; seen {seen}")
    assert PrinterStatus.IDLE in seen
    assert len(seen) == 2


def test_print_started_by_hand_at_the_printer_shows_as_printing(sim):
    response = sim.control("POST", "/manual-print", json={"name": "by_hand.gcode", "duration": 600})
    assert response.status_code == 201, response.text
    state = sim.client.get_state()
    assert state.status is PrinterStatus.PRINTING
    assert state.job.file_name == "by_hand.gcode"
    snapshot = sim.snapshot()
    assert snapshot["manual_prints_started"] == 1
    assert snapshot["prints_started"] == 0
    with pytest.raises(PrinterRejected):
        sim.client.start("sample_part.gcode")


def test_firmware_error_shows_as_error_with_its_message(sim):
    set_faults(sim, firmware_error="Thermal runaway on the bed")
    state = sim.client.get_state()
    assert state.status is PrinterStatus.ERROR
    if sim.personality != "prusalink" or state.message:
        assert "Thermal runaway" in state.message
    set_faults(sim, firmware_error=None)
    assert sim.client.get_state().status is PrinterStatus.IDLE


def test_finished_print_waits_for_bed_clear_and_counts_every_start_once(sim):
    part = sim.gcode("bed.gcode", seconds=1)
    sim.client.upload(part.path, part.name, part.sha256)
    sim.client.start(part.name)
    ended = sim.wait_not_active(10)
    snapshot = sim.snapshot()
    assert snapshot["bed_clear"] is False
    if sim.personality in ("prusalink", "moonraker"):
        assert ended.status is PrinterStatus.AWAITING_BED_CLEAR
    assert sim.control("POST", "/clear-bed").status_code == 200
    assert sim.client.get_state().status is PrinterStatus.IDLE
    assert sim.snapshot()["bed_clear"] is True
    sim.client.start(part.name)
    snapshot = sim.snapshot()
    assert snapshot["prints_started"] == 2
    assert snapshot["starts_by_file"] == {part.name: 2}
    assert snapshot["dirty_bed_starts"] == 0


def test_control_api_rejects_unknown_faults_with_a_message(sim):
    response = sim.control("POST", "/faults", json={"gremlins": True})
    assert response.status_code == 400
    assert "gremlins" in response.json()["error"]
    assert sim.control("POST", "/faults", data="not json").status_code == 400


def test_prusalink_digest_auth(simulator, sim_printer, tmp_path):
    backend = sim_backend("prusalink", simulator, sim_printer, tmp_path)
    url = simulator.printer_url(backend.index)
    good = PrusaLinkClient(url, username="maker", password=simulator.api_key(backend.index))
    assert good.get_state().status is PrinterStatus.IDLE
    part = backend.gcode("digest.gcode", seconds=1)
    good.upload(part.path, part.name, part.sha256)  # a streamed body re-sent after the 401 challenge
    assert part.name in {f.name for f in good.list_files()}
    bad = PrusaLinkClient(url, username="maker", password="wrong")
    with pytest.raises(PrinterUnauthorized):
        bad.get_state()


@pytest.mark.slow
def test_real_octoprint_firmware_error_shows_as_error(octoprint_server, tmp_path):
    backend = octoprint_backend(octoprint_server, tmp_path)
    client = backend.client
    client.send_gcode("!!DEBUG:trigger_fatal_error_marlin")
    state = backend.wait_for(lambda s: s.status is PrinterStatus.ERROR, 15, "the firmware error")
    assert "Thermal Runaway" in state.message
    # OctoPrint passes through "Error" on its way to "Offline after error"; both are the error.
    assert state.raw_state in ("Error", "Offline after error")
    closed = backend.wait_for(lambda s: s.raw_state == "Offline after error", 15, "the port to close")
    assert closed.status is PrinterStatus.ERROR
    assert closed.temperatures == {}  # no readings from a halted printer, rather than stale ones
    client.reconnect()
    backend.wait_for(lambda s: s.status is PrinterStatus.IDLE, 30, "OctoPrint to reconnect")
