"""A printing printer's progress moves on every poll; its job follows in whole per cent (issue 18).

Reconciling every small step cost one or two queries per poll of every printing printer. The job's
stored progress now changes when the printer crosses a whole per cent (to the printer's exact
figure); status changes (the end of a print) are reconciled at once as before.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import Job
from jobs.states import JobState
from machines.machine_types.printer_state import PrinterJobInfo, PrinterState, PrinterStatus, Temperature
from machines.registry import get_registry
from machines.services import machine_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine():
    config = machine_create(
        name="mk4",
        machine_type="printer-3d",
        driver="octoprint",
        settings={"URL": "http://127.0.0.1:9", "API_KEY": "k"},
    )
    return get_registry().get_machine(config.pk)


def report(machine, progress: float, status: PrinterStatus = PrinterStatus.PRINTING) -> int:
    """Store a poll's answer as the poller does; return the queries it made on the jobs table."""
    state = PrinterState(
        status=status,
        temperatures={"tool0": Temperature(actual=215.0 + progress % 1, target=215.0)},
        job=PrinterJobInfo(file_name="cube.gcode", progress=progress, time_used=60.0 * progress),
        raw_state="Printing",
    )
    with CaptureQueriesContext(connection) as queries:
        machine.driver.record_state(machine, state)
    return sum(1 for query in queries.captured_queries if '"jobs_job"' in query["sql"])


def test_the_job_follows_whole_per_cents_and_the_end_at_once(machine):
    assert report(machine, 41.8) > 0  # a print started at the printer: recorded as an external job
    job = Job.objects.get(machine_id=machine.id)
    assert job.state == JobState.PRINTING and job.progress == pytest.approx(41.8)

    assert report(machine, 41.95) == 0
    assert report(machine, 42.2) > 0
    job.refresh_from_db()
    assert job.progress == pytest.approx(42.2)
    assert report(machine, 42.6) == 0
    assert report(machine, 42.9) == 0
    job.refresh_from_db()
    assert job.progress == pytest.approx(42.2)

    report(machine, 100.0, status=PrinterStatus.IDLE)  # finished: a status change, reconciled now
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED and job.progress == 100.0
