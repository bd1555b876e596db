"""When the live state reaches the database: significant changes at once, telemetry throttled.

A printing printer's temperatures and progress change on every poll; at fleet scale writing each one
would be hundreds of writes per second. Only ``machines_machinestate`` writes are counted, since the
database cache (the SQLite pass) issues its own queries.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.services.reconciler import printer_state_from_live
from machines import state as state_module
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.machine_types.printer_state import PrinterJobInfo, PrinterState, PrinterStatus, Temperature
from machines.models import MachineState
from machines.registry import get_registry
from machines.services import machine_create
from machines.state import PERSIST_LAST_SEEN_EVERY, PERSIST_TELEMETRY_EVERY, read_state

pytestmark = pytest.mark.django_db

POLL = 2.0  # seconds between polls, as in production


class FakeClock:
    """Stands in for the ``time`` module in ``machines.state`` so throttle windows pass instantly."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(state_module, "time", fake)
    return fake


class StateWrites:
    """Counts INSERT/UPDATE statements on the machine state table inside a block."""

    def __init__(self) -> None:
        self.context = CaptureQueriesContext(connection)

    def __enter__(self) -> StateWrites:
        self.context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.context.__exit__(*exc)

    @property
    def count(self) -> int:
        table = MachineState._meta.db_table
        return sum(
            1
            for query in self.context.captured_queries
            if table in query["sql"] and query["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))
        )


def printing(
    step: int, *, status: PrinterStatus = PrinterStatus.PRINTING, file_name="cube.gcode"
) -> PrinterState:
    """What a printer mid-print says at poll ``step``: temperatures and progress move every time."""
    return PrinterState(
        status=status,
        temperatures={
            "tool0": Temperature(209.0 + step % 3, 215.0),
            "bed": Temperature(59.5 + step % 2, 60.0),
        },
        job=PrinterJobInfo(
            file_name=file_name, progress=step * 0.1, time_used=step * POLL, time_left=3600 - step
        ),
        raw_state="Printing",
    )


@pytest.fixture
def printer(registry, clock):
    """A machine already printing, its state written once; returns (machine, driver)."""
    config = machine_create(
        name="P1", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "printer.local"}
    )
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    driver = registry.get_driver("dummy-printer")
    driver.states["P1"] = printing(0)
    registry.poll(machine)
    assert MachineState.objects.get(pk=config.pk).status == Printer3DStatus.PRINTING
    return machine, driver


def poll(machine, driver, clock: FakeClock, state: PrinterState) -> None:
    clock.advance(POLL)
    driver.states[machine.name] = state
    get_registry().poll(machine)


def test_telemetry_is_written_at_most_once_per_window(printer, clock):
    machine, driver = printer
    polls = int(3 * PERSIST_TELEMETRY_EVERY / POLL)  # three windows of printing
    with StateWrites() as writes:
        for step in range(1, polls + 1):
            poll(machine, driver, clock, printing(step))
            # The cache always has what the printer just said.
            assert machine.state.data["printer_state"]["job"]["progress"] == pytest.approx(step * 0.1)
    assert 1 <= writes.count <= 3
    # The database copy lags by less than one window.
    row = MachineState.objects.get(pk=machine.id)
    progress = next(p["value"] for p in row.properties if p["key"] == "job_progress")
    assert polls * 0.1 - progress <= PERSIST_TELEMETRY_EVERY / POLL * 0.1 + 1e-9


def test_pending_telemetry_is_written_when_due_even_if_the_printer_stops_changing(printer, clock):
    machine, driver = printer
    with StateWrites() as writes:
        poll(machine, driver, clock, printing(1))  # one change, within the window: not written
        assert writes.count == 0
        for _ in range(int(PERSIST_TELEMETRY_EVERY / POLL)):
            poll(machine, driver, clock, printing(1))  # no change, but the change above is pending
    assert writes.count == 1
    assert MachineState.objects.get(pk=machine.id).data["printer_state"]["job"]["progress"] == pytest.approx(
        0.1
    )


def test_a_status_change_is_written_at_once_with_the_latest_telemetry(printer, clock):
    machine, driver = printer
    with StateWrites() as writes:
        poll(machine, driver, clock, printing(1))
        poll(machine, driver, clock, printing(2, status=PrinterStatus.PAUSED))
    assert writes.count == 1
    row = MachineState.objects.get(pk=machine.id)
    assert row.status == Printer3DStatus.PAUSED
    assert row.data["printer_state"]["job"]["progress"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m: m.update_state(data={BED_CLEAR_REQUIRED: True}), id="bed-clear flag"),
        pytest.param(lambda m: m.update_state(status_text="Filament runout"), id="status text"),
        pytest.param(lambda m: m.handle_error("nozzle clogged"), id="error"),
        pytest.param(lambda m: m.set_restart_required(), id="restart required"),
    ],
)
def test_significant_changes_are_written_at_once(printer, clock, change):
    machine, _ = printer
    clock.advance(POLL)
    with StateWrites() as writes:
        change(machine)
    assert writes.count == 1


def test_a_new_job_file_on_the_printer_is_written_at_once(printer, clock):
    """The reconciler decides on the file the printer runs: it must survive a cache flush."""
    machine, driver = printer
    with StateWrites() as writes:
        poll(machine, driver, clock, printing(1, file_name="other.gcode"))
    assert writes.count == 1


def test_last_seen_alone_is_still_written_now_and_then(printer, clock):
    machine, driver = printer
    with StateWrites() as writes:
        for _ in range(int(PERSIST_LAST_SEEN_EVERY / POLL) + 1):
            poll(machine, driver, clock, printing(0))  # the printer says the same thing every time
    assert writes.count == 1


def test_after_a_cache_flush_the_database_copy_has_the_current_status(printer, clock):
    machine, driver = printer
    poll(machine, driver, clock, printing(1))
    poll(machine, driver, clock, printing(2, status=PrinterStatus.PAUSED))
    poll(machine, driver, clock, printing(3, status=PrinterStatus.PAUSED))  # telemetry only: not written yet
    cache.clear()
    live = read_state(machine.id)
    assert live.source == "database" and live.stale
    assert live.status == Printer3DStatus.PAUSED
    served = printer_state_from_live(live)
    assert served is not None and served.status is PrinterStatus.PAUSED
    assert served.job.file_name == "cube.gcode" and served.job.progress == pytest.approx(0.2)
