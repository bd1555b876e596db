"""The driver contract: the same tests against every backend we can reach.

Backends: a real OctoPrint 1.11 with its virtual printer (``octoprint-real``, marked slow), and the
simulator's OctoPrint, PrusaLink and Moonraker personalities. Real PrusaLink and Moonraker servers
do not run here: the ``prusalink`` package needs a Prusa printer on a serial port (and libcap headers
to build), and Moonraker needs Klipper for anything about printing; see docs/drivers.md.
"""

from __future__ import annotations

import time

import pytest

from machines.machine_types.printer_state import (
    ACTIVE_STATUSES,
    PrinterCapabilities,
    PrinterRejected,
    PrinterStatus,
    PrinterUnauthorized,
)

ENDED = {PrinterStatus.IDLE, PrinterStatus.AWAITING_BED_CLEAR}


def test_idle_printer_reports_state_and_separate_tool_and_bed_temperatures(backend):
    state = backend.client.get_state()
    assert state.status is PrinterStatus.IDLE
    assert state.raw_state
    if not state.temperatures:  # a real OctoPrint reads temperatures a moment after connecting
        state = backend.wait_for(lambda s: bool(s.temperatures), 10, "first temperature report")
    assert {"tool0", "bed"} <= set(state.temperatures)
    assert all(t.actual is not None for t in state.temperatures.values())


def test_heater_targets_are_reported_per_heater_never_mixed_up(backend):
    part = backend.gcode("heat.gcode", seconds=30, tool=205, bed=55)
    backend.client.upload(part.path, part.name, part.sha256)
    backend.client.start(part.name)

    # The file sets the nozzle, then the bed: a report between the two lines has only the first.
    def targets(state) -> tuple:
        return tuple(getattr(state.temperatures.get(name), "target", None) for name in ("tool0", "bed"))

    state = backend.wait_for(
        lambda s: targets(s) == (205, 55), 20, "nozzle target 205 and bed target 55, each on its own heater"
    )
    assert state.status in (PrinterStatus.HEATING, PrinterStatus.PRINTING)
    # Heaters far below target at 0 % progress read as heating, whichever API.
    assert state.temperatures["tool0"].actual < 205
    backend.client.cancel()
    backend.wait_not_active()


def test_upload_lists_the_file_and_delete_removes_it(backend):
    part = backend.gcode("listed part.gcode", seconds=2)
    remote = backend.client.upload(part.path, part.name, part.sha256)
    assert remote.name == part.name
    assert remote.size == part.path.stat().st_size
    names = {f.name: f for f in backend.client.list_files()}
    assert part.name in names
    assert names[part.name].size == part.path.stat().st_size
    assert backend.client.file_info(part.name).size == part.path.stat().st_size
    backend.client.delete_file(part.name)
    assert part.name not in {f.name for f in backend.client.list_files()}
    assert backend.client.file_info(part.name) is None


def test_upload_with_wrong_checksum_is_rejected_and_not_left_behind(backend):
    part = backend.gcode("corrupt.gcode", seconds=2)
    with pytest.raises(PrinterRejected, match=r"sha256|checksum"):
        backend.client.upload(part.path, part.name, "0" * 64)
    assert part.name not in {f.name for f in backend.client.list_files()}


def test_starting_a_missing_file_is_rejected(backend):
    with pytest.raises(PrinterRejected):
        backend.client.start("no-such-file.gcode")
    assert backend.client.get_state().status is PrinterStatus.IDLE


def test_print_runs_pauses_resumes_and_completes(backend):
    client = backend.client
    part = backend.gcode("lifecycle.gcode", seconds=6)
    client.upload(part.path, part.name, part.sha256)
    client.start(part.name)

    printing = backend.wait_for(
        lambda s: s.status is PrinterStatus.PRINTING and (s.job and (s.job.progress or 0) > 0), 15, "progress"
    )
    assert printing.job.file_name == part.name
    with pytest.raises(PrinterRejected):
        client.start(part.name)  # busy: a second start must never print twice

    client.pause()
    paused = backend.wait_for(lambda s: s.status is PrinterStatus.PAUSED, 10, "paused")
    time.sleep(1.0)
    still = client.get_state()
    assert still.status is PrinterStatus.PAUSED
    assert still.job.progress == pytest.approx(paused.job.progress, abs=0.5)

    client.resume()
    backend.wait_for(lambda s: s.status is not PrinterStatus.PAUSED, 10, "resumed")
    done = backend.wait_not_active(30)
    assert done.status in ENDED
    if done.job is not None and done.job.progress is not None:
        assert done.job.progress == pytest.approx(100, abs=0.5)
    assert done.job is None or done.job.file_name in ("", part.name)
    client.delete_file(part.name)
    if backend.sim is not None:
        snapshot = backend.snapshot()
        assert snapshot["prints_started"] == 1
        assert snapshot["starts_by_file"] == {part.name: 1}


def test_cancel_ends_the_job_and_frees_the_file(backend):
    client = backend.client
    part = backend.gcode("cancelled.gcode", seconds=20)
    client.upload(part.path, part.name, part.sha256)
    client.start(part.name)
    backend.wait_for(lambda s: s.status in ACTIVE_STATUSES, 10, "the print to start")
    client.cancel()
    ended = backend.wait_not_active(15)
    assert ended.status in ENDED
    client.delete_file(part.name)
    assert client.file_info(part.name) is None


def test_wrong_api_key_is_unauthorized_and_the_right_key_works_again(backend):
    wrong = backend.make_client(api_key="not-the-key")
    with pytest.raises(PrinterUnauthorized):
        wrong.get_state()
    with pytest.raises(PrinterUnauthorized):
        wrong.start("anything.gcode")
    wrong.close()
    fixed = backend.make_client()
    assert fixed.get_state().status is PrinterStatus.IDLE
    fixed.close()


def test_capabilities(backend):
    caps = backend.client.capabilities()
    assert isinstance(caps, PrinterCapabilities)
    assert caps.can_pause is True
    assert caps.max_file_size is None or caps.max_file_size > 0
