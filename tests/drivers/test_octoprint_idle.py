"""An idle OctoPrint costs one request per poll: the job answer is reused while the printer says it
is still idle, and read again as soon as anything can have moved it (drivers/octoprint.py)."""

from __future__ import annotations

import pytest

from drivers import octoprint
from machines.machine_types.printer_state import PrinterStatus
from tests.drivers.conftest import sim_backend


@pytest.fixture
def idle(simulator, sim_printer, tmp_path):
    backend = sim_backend("octoprint", simulator, sim_printer, tmp_path)
    paths: list[str] = []
    client = backend.client
    real = client._request

    def counted(method, path, **kwargs):
        paths.append(f"{method} {path}")
        return real(method, path, **kwargs)

    client._request = counted
    return backend, paths


def test_an_idle_printer_is_polled_with_one_request(idle):
    backend, paths = idle
    first = backend.client.get_state()
    assert paths == ["GET /api/printer", "GET /api/job"]
    paths.clear()
    second = backend.client.get_state()
    assert paths == ["GET /api/printer"]
    assert second.status is PrinterStatus.IDLE
    assert (second.raw_state, second.job, second.message) == (first.raw_state, first.job, first.message)
    assert set(second.temperatures) == set(first.temperatures)


def test_a_print_started_at_the_printer_is_seen_at_the_next_poll(idle):
    backend, paths = idle
    backend.client.get_state()
    backend.client.get_state()
    started = backend.control(
        "POST", "/manual-print", json={"name": "from-the-screen.gcode", "duration": 600}
    )
    assert started.status_code < 300, started.text
    paths.clear()
    state = backend.client.get_state()
    assert paths == ["GET /api/printer", "GET /api/job"]
    assert state.status in (PrinterStatus.PRINTING, PrinterStatus.HEATING)
    assert state.job is not None and state.job.file_name == "from-the-screen.gcode"


def test_a_command_or_the_age_limit_reads_the_job_again(idle, monkeypatch):
    backend, paths = idle
    backend.client.get_state()
    backend.client.send_gcode("M117 hello")  # a command through this client
    paths.clear()
    backend.client.get_state()
    assert paths == ["GET /api/printer", "GET /api/job"]
    monkeypatch.setattr(octoprint, "IDLE_JOB_REUSE_SECONDS", 0.0)
    paths.clear()
    backend.client.get_state()
    assert paths == ["GET /api/printer", "GET /api/job"]
