"""Dispatch on the simulator: upload, start, and retries after a crash that never print twice."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job
from jobs.services import dispatch, job_request_cancel
from jobs.services.dispatch import job_dispatch
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from machines.locks import MachineBusy, machine_io_lock, machine_io_lock_acquire
from machines.machine_types.printer_state import ACTIVE_STATUSES
from tests.jobs.dispatch_support import submit_job

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Stands for kill -9 of the worker: nothing after this point runs (not even except Exception)."""


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def dispatched(farm, alice):
    """A job the scheduler gave to a freshly polled, idle simulated printer."""
    config = farm.add_machine("mk4")
    farm.poll(config)
    job = submit_job(alice, name="part", seconds=600)
    [job] = schedule_run()
    assert job.state == JobState.DISPATCHING
    return farm, config, job


def kill_after(monkeypatch, driver, method: str) -> None:
    """The real driver call happens, then the worker dies before it can record anything."""
    real = getattr(driver, method)

    def dying(*args, **kwargs):
        real(*args, **kwargs)
        raise WorkerKilled(method)

    monkeypatch.setattr(driver, method, dying)


def test_dispatch_uploads_starts_and_records_each_step(dispatched):
    farm, config, job = dispatched
    outcome = job_dispatch(job_id=job.pk)
    assert outcome.result == "printing"
    job.refresh_from_db()
    assert job.state == JobState.PRINTING and job.started_at is not None
    steps = list(job.events.filter(kind="transition").values_list("to_state", flat=True))
    assert steps[-3:] == ["dispatching", "uploaded", "printing"]
    snapshot = farm.snapshot(config)
    assert snapshot["starts_by_file"] == {job.printer_file_name: 1}
    files = {f.name: f for f in farm.machine(config).driver.list_files(farm.machine(config))}
    assert files[job.printer_file_name].size == job.size
    # Running it again (a duplicate task) changes nothing.
    assert job_dispatch(job_id=job.pk).result == "skipped"
    assert farm.snapshot(config)["prints_started"] == 1


def test_crash_after_upload_before_start_resumes_without_uploading_again(dispatched, monkeypatch):
    farm, config, job = dispatched
    driver = farm.machine(config).driver
    kill_after(monkeypatch, driver, "upload")
    with pytest.raises(WorkerKilled):
        job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHING  # the upload happened, the worker never said so
    monkeypatch.undo()
    uploads = []
    monkeypatch.setattr(driver, "upload", lambda *a, **k: uploads.append(a))
    assert job_dispatch(job_id=job.pk).result == "printing"
    assert uploads == []  # the file with this name and size was already there
    assert farm.snapshot(config)["starts_by_file"] == {job.printer_file_name: 1}


def test_crash_after_start_before_the_database_heard_never_prints_twice(dispatched, monkeypatch):
    farm, config, job = dispatched
    driver = farm.machine(config).driver
    kill_after(monkeypatch, driver, "start")
    with pytest.raises(WorkerKilled):
        job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == JobState.UPLOADED
    monkeypatch.undo()
    for _ in range(3):  # the sweep may re-run it several times
        job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == JobState.PRINTING
    snapshot = farm.snapshot(config)
    assert snapshot["prints_started"] == 1
    assert snapshot["starts_by_file"] == {job.printer_file_name: 1}


def test_a_retry_after_the_print_already_finished_does_not_start_it_again(dispatched, monkeypatch):
    farm, config, job = dispatched
    short = submit_job(job.owner, name="short", seconds=5)
    Job.objects.filter(pk=job.pk).update(state=JobState.CANCELLED, machine=None)
    [short] = schedule_run()
    driver = farm.machine(config).driver
    kill_after(monkeypatch, driver, "start")
    with pytest.raises(WorkerKilled):
        job_dispatch(job_id=short.pk)
    monkeypatch.undo()
    farm.wait_printer(config, lambda s: s.status not in ACTIVE_STATUSES, what="the short print to end")
    job_dispatch(job_id=short.pk)
    farm.poll(config)  # the reconciler sees it finished
    short.refresh_from_db()
    assert short.state == JobState.COMPLETED
    assert farm.snapshot(config)["starts_by_file"] == {short.printer_file_name: 1}


def test_unreachable_printer_leaves_the_job_dispatching_for_a_retry(dispatched):
    farm, config, job = dispatched
    farm.fault(config, offline=True)
    assert job_dispatch(job_id=job.pk).result == "retry"
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHING and job.machine_id == config.pk
    farm.clear_faults(config)
    assert job_dispatch(job_id=job.pk).result == "printing"


def test_a_printer_that_refuses_sends_the_job_back_to_the_front_then_fails_it(dispatched, settings):
    farm, config, job = dispatched
    settings.JOBS_DISPATCH_MAX_ATTEMPTS = 2
    later = submit_job(job.owner, name="later")
    farm.manual_print(config, "someone-elses.gcode", 600)  # busy before our start
    assert job_dispatch(job_id=job.pk).result == "requeued"
    job.refresh_from_db()
    later.refresh_from_db()
    assert job.state == JobState.QUEUED and job.machine is None
    assert job.position < later.position  # front of its band: it was next
    event = job.events.last()
    assert "refused" in event.reason and "printing" in event.reason
    # Second refusal: failed, with the reason.
    other = farm.add_machine("second")
    farm.poll(other)
    farm.manual_print(other, "busy-too.gcode", 600)
    Job.objects.filter(pk=later.pk).update(state=JobState.CANCELLED)
    [again] = schedule_run()
    assert again.pk == job.pk and again.machine_id == other.pk
    assert job_dispatch(job_id=job.pk).result == "failed"
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "refused the job 2 times" in job.state_reason


def test_a_cancel_requested_while_dispatching_stops_the_start(dispatched):
    farm, config, job = dispatched
    job_request_cancel(job=job.pk, user=job.owner)
    assert job_dispatch(job_id=job.pk).result == "cancelled"
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert farm.snapshot(config)["prints_started"] == 0


def test_dispatch_waits_for_the_machine_io_lock(dispatched, monkeypatch):
    farm, config, job = dispatched
    monkeypatch.setattr(
        dispatch, "machine_io_lock", lambda machine_id, ttl: machine_io_lock(machine_id, wait=0.05, ttl=ttl)
    )
    holder = machine_io_lock_acquire(config.pk)
    try:
        assert job_dispatch(job_id=job.pk).result == "retry"
        with pytest.raises(MachineBusy):
            machine_io_lock_acquire(config.pk, wait=0)
    finally:
        holder.release()
    assert job_dispatch(job_id=job.pk).result == "printing"
    farm.wait_printer(config, lambda s: s.status in ACTIVE_STATUSES, what="the print to start")
