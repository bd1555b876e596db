"""The start/finish estimate of jobs/estimates.py: the queue played forward (jobs/forecast.py) over the
machines that fit, owners taking turns as the scheduler hands jobs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.estimates import DEFAULT_JOB_SECONDS, format_duration, job_estimates
from jobs.models import Job
from machines.services import machine_settings_update
from tests.pages.conftest import gcode, printing_state, report, start_printing

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EACH = 3723  # "1h 2m 3s" in the test G-code


def _at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_waiting_jobs_start_after_the_jobs_ahead(printer, student, other_student, submit_job):
    printer()
    a1, a2 = submit_job(student, name="a1"), submit_job(student, name="a2")
    b1 = submit_job(other_student, name="b1")
    estimates = job_estimates(jobs=[a1, a2, b1], now=NOW)
    # owners take turns: b1 goes before the student's second job
    assert [(estimates[j.pk].start, estimates[j.pk].finish) for j in (a1, b1, a2)] == [
        (_at(0), _at(EACH)),
        (_at(EACH), _at(2 * EACH)),
        (_at(2 * EACH), _at(3 * EACH)),
    ]
    assert estimates[b1.pk].machines == 1


def test_jobs_are_spread_over_the_compatible_machines_only(printer, student, submit_job):
    printer("mk4-a")
    printer("mk4-b")
    printer("small", volume=(30, 30, 30))  # the test print (50 mm) does not fit: never used
    jobs = [submit_job(student, name=f"j{i}") for i in range(3)]
    estimates = job_estimates(jobs=jobs, now=NOW)
    assert [estimates[j.pk].start for j in jobs] == [_at(0), _at(0), _at(EACH)]
    assert {estimates[j.pk].machines for j in jobs} == {2}


def test_a_printing_job_delays_the_queue_by_its_time_left(printer, student, other_student, submit_job):
    machine = printer()
    running = submit_job(other_student, name="running")
    waiting = submit_job(student, name="waiting")
    start_printing(running, machine)
    report(machine, printing_state(running.printer_file_name, progress=50.0, time_left=1800.0))
    running.refresh_from_db()
    estimates = job_estimates(jobs=[running, waiting], now=NOW)
    assert estimates[running.pk].finish == _at(1800) and estimates[running.pk].progress == 50.0
    assert estimates[running.pk].time_left == "30 min"
    assert estimates[waiting.pk].start == _at(1800) and estimates[waiting.pk].finish == _at(1800 + EACH)


def test_without_the_printers_figure_the_files_estimate_and_progress_are_used(printer, student, submit_job):
    machine = printer()
    running = submit_job(student, name="running")
    start_printing(running, machine)
    Job.objects.filter(pk=running.pk).update(progress=25.0)
    running.refresh_from_db()
    assert job_estimates(jobs=[running], now=NOW)[running.pk].finish == _at(EACH * 0.75)


def test_a_job_no_machine_fits_any_more_has_no_estimate(printer, student, submit_job):
    machine = printer()
    job = submit_job(student)
    machine_settings_update(machine=machine, settings={"LOADED_MATERIALS": ["PETG"]})
    estimate = job_estimates(jobs=[job], now=NOW)[job.pk]
    assert estimate.start is None and estimate.note == "no active machine fits this job right now"


def test_a_file_without_an_estimate_counts_as_the_default(printer, student, submit_job):
    printer()
    content = gcode().replace(b"; estimated printing time (normal mode) = 1h 2m 3s\n", b"")
    first = submit_job(student, name="first", content=content)
    second = submit_job(student, name="second")
    assert first.metadata["estimated_time_s"] is None
    assert job_estimates(jobs=[second], now=NOW)[second.pk].start == _at(DEFAULT_JOB_SECONDS)


def test_format_duration():
    assert [format_duration(s) for s in (None, 40, 720, 3723, 36000)] == [
        "",
        "40 s",
        "12 min",
        "1 h 02 min",
        "10 h 00 min",
    ]
