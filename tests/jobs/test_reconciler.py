"""The reconciler on the simulator: each poll makes the job follow what the printer reports."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job
from jobs.services import job_request_cancel, job_request_pause, job_request_resume
from jobs.services.control import job_control
from jobs.services.dispatch import job_dispatch
from jobs.services.lifecycle import job_transition
from jobs.services.reconciler import printer_state_from_live, reconcile_machine, reconcile_sweep
from jobs.services.scheduler import schedule_run
from jobs.states import ActorKind, JobState
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.machine_types.printer_state import ACTIVE_STATUSES, PrinterState, PrinterStatus
from tests.jobs.dispatch_support import submit_job
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice")


def printing_job(farm, user, *, seconds: float = 600, name: str = "mk4"):
    config = farm.add_machine(name)
    farm.poll(config)
    job = submit_job(user, name=f"part-on-{name}", seconds=seconds)
    [job] = schedule_run()
    assert job_dispatch(job_id=job.pk).result == "printing"
    return config, Job.objects.get(pk=job.pk)


def poll_until(farm, config, job, states, timeout: float = 20.0) -> Job:
    """Poll (the reconciler runs on each poll) until the job is in one of ``states``."""
    states = {states} if isinstance(states, str) else set(states)

    def reached() -> bool:
        farm.poll(config)
        job.refresh_from_db()
        return job.state in states

    wait_until(reached, timeout=timeout, message=lambda: f"job {states}; it stayed {job.state}")
    return job


def test_progress_then_finished_then_awaiting_bed_clear(farm, alice):
    config, job = printing_job(farm, alice, seconds=40)
    farm.wait_printer(config, lambda s: s.job and (s.job.progress or 0) > 5, what="some progress")
    farm.poll(config)
    job.refresh_from_db()
    assert job.state == JobState.PRINTING and 0 < job.progress < 100
    job = poll_until(farm, config, job, JobState.COMPLETED)
    assert job.progress == 100.0 and job.finished_at is not None
    assert job.events.last().actor_kind == "reconciler"
    machine = farm.machine(config)
    assert machine.state.data[BED_CLEAR_REQUIRED] is True
    farm.poll(config)  # the printer says idle; Lab MES says the plate is still on it
    assert machine.state.status == Printer3DStatus.AWAITING_BED_CLEAR
    submit_job(alice, name="next")
    assert schedule_run() == []


def test_pause_and_resume_reach_the_printer_and_the_job_follows(farm, alice):
    config, job = printing_job(farm, alice)
    job_request_pause(job=job.pk, user=alice)
    assert job_control(job_id=job.pk, action="pause").result == "sent"
    job = poll_until(farm, config, job, JobState.PAUSED)
    assert job.requested_action == ""  # fulfilled
    job_request_resume(job=job.pk, user=alice)
    assert job_control(job_id=job.pk, action="resume").result == "sent"
    job = poll_until(farm, config, job, JobState.PRINTING)
    # A duplicate delivery after the fact does nothing.
    assert job_control(job_id=job.pk, action="resume").result == "skipped"
    job_request_cancel(job=job.pk, user=alice)


def test_cancel_reaches_the_printer_and_the_job_ends_cancelled(farm, alice):
    config, job = printing_job(farm, alice)
    job_request_cancel(job=job.pk, user=alice)
    assert job_control(job_id=job.pk, action="cancel").result == "sent"
    job = poll_until(farm, config, job, JobState.CANCELLED)
    assert job.state_reason == "cancelled as requested"
    assert farm.machine(config).state.data[BED_CLEAR_REQUIRED] is True  # a partial part is on the plate


def test_cancelled_at_the_printer(farm, alice):
    config, job = printing_job(farm, alice)
    client = farm.client(config)
    client.cancel()
    client.close()
    job = poll_until(farm, config, job, JobState.CANCELLED)
    assert job.state_reason == "cancelled at the printer"


def test_firmware_error_mid_print_fails_the_job_with_the_message(farm, alice):
    config, job = printing_job(farm, alice)
    farm.fault(config, firmware_error="Thermal runaway on the bed")
    job = poll_until(farm, config, job, JobState.FAILED)
    assert "error" in job.state_reason
    assert farm.machine(config).state.status == Printer3DStatus.ERROR


def test_a_print_started_by_hand_is_recorded_as_an_external_job(farm, alice):
    config = farm.add_machine("mk4")
    farm.poll(config)
    farm.manual_print(config, "benchy-by-hand.gcode", 20)
    farm.poll(config)
    external = Job.objects.get(machine=config, external=True)
    assert external.owner is None and external.state == JobState.PRINTING
    assert external.printer_file_name == "benchy-by-hand.gcode"
    assert external.events.first().reason == "print started at the printer"
    farm.poll(config)  # polls while it prints record nothing new
    assert Job.objects.filter(machine=config).count() == 1
    # The machine is busy: the scheduler gives it nothing.
    submit_job(alice, name="waiting")
    assert schedule_run() == []
    external = poll_until(farm, config, external, JobState.COMPLETED)
    assert farm.machine(config).state.data[BED_CLEAR_REQUIRED] is True


def test_a_report_older_than_the_end_of_our_print_records_no_external_job(farm, alice):
    """The sweep reads a report (printing), a poll then finishes the job, and the sweep applies the
    old report: it must not record our own print as one started by hand at the printer."""
    config, job = printing_job(farm, alice, seconds=20)
    farm.wait_printer(config, lambda s: s.job and (s.job.progress or 0) > 5, what="some progress")
    farm.poll(config)
    stale = farm.machine(config).state
    assert printer_state_from_live(stale).status in ACTIVE_STATUSES
    job = poll_until(farm, config, job, JobState.COMPLETED)

    late = reconcile_machine(
        machine_id=config.pk, printer_state=printer_state_from_live(stale), observed_at=stale.last_seen
    )
    assert late == []
    assert list(Job.objects.filter(machine=config).values_list("pk", "external")) == [(job.pk, False)]
    # The same file reported running after the job ended is a reprint from the printer's screen.
    again = reconcile_machine(
        machine_id=config.pk,
        printer_state=printer_state_from_live(stale),
        observed_at=job.finished_at + dt.timedelta(seconds=1),
    )
    assert again == ["external"]
    assert Job.objects.get(machine=config, external=True).state == JobState.PRINTING


def test_a_print_without_a_file_name_is_one_external_job_however_often_it_is_polled(farm):
    config = farm.add_machine("mk4")
    unnamed = PrinterState(status=PrinterStatus.PRINTING)  # e.g. printing from the SD card
    assert reconcile_machine(machine_id=config.pk, printer_state=unnamed) == ["external"]
    for _ in range(3):
        assert reconcile_machine(machine_id=config.pk, printer_state=unnamed) == []
    [external] = Job.objects.filter(machine=config)
    assert external.external and external.state == JobState.PRINTING and external.name == "external print"


def test_lost_mid_print_becomes_unknown_then_printing_again(farm, alice):
    config, job = printing_job(farm, alice)
    farm.fault(config, offline=True)
    farm.poll(config)
    job.refresh_from_db()
    assert job.state == JobState.UNKNOWN and "lost contact" in job.state_reason
    farm.clear_faults(config)
    job = poll_until(farm, config, job, JobState.PRINTING)
    assert list(job.events.values_list("to_state", flat=True))[-2:] == ["unknown", "printing"]


def test_lost_mid_print_and_back_idle_without_the_job_fails_it(farm, alice):
    config, job = printing_job(farm, alice)
    farm.fault(config, offline=True)
    farm.poll(config)
    job.refresh_from_db()
    assert job.state == JobState.UNKNOWN
    # While nobody could see it, the printer halted and was reset: it comes back idle.
    farm.fault(config, firmware_error="power loss")
    farm.fault(config, firmware_error=None, offline=None)
    job = poll_until(farm, config, job, JobState.FAILED)
    assert job.state_reason == "the printer came back idle without finishing this job"


def test_a_job_left_uploaded_whose_print_runs_becomes_printing_on_the_next_poll(farm, alice):
    config = farm.add_machine("mk4")
    farm.poll(config)
    job = submit_job(alice, name="part", seconds=600)
    [job] = schedule_run()
    machine = farm.machine(config)
    real_start = machine.driver.start

    def start_then_die(*args):
        real_start(*args)
        raise KeyboardInterrupt  # the worker is gone before it records the start

    machine.driver.start = start_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            job_dispatch(job_id=job.pk)
    finally:
        del machine.driver.start
    job.refresh_from_db()
    assert job.state == JobState.UPLOADED
    farm.poll(config)
    job.refresh_from_db()
    assert job.state == JobState.PRINTING and job.events.last().actor_kind == "reconciler"
    assert farm.snapshot(config)["prints_started"] == 1


def test_the_reconciler_never_overwrites_a_change_made_meanwhile(farm, alice, monkeypatch):
    config, job = printing_job(farm, alice)
    stale = Job.objects.get(pk=job.pk)  # what the reconciler read…
    Job.objects.filter(pk=job.pk).update(state=JobState.PAUSED)  # …before someone else wrote
    monkeypatch.setattr("jobs.services.reconciler._active_job", lambda machine_id: stale)
    state = farm.wait_printer(config, lambda s: s.status in ACTIVE_STATUSES)
    lost = type(state)(status=PrinterStatus.DISCONNECTED)
    assert reconcile_machine(machine_id=config.pk, printer_state=lost) == []
    job.refresh_from_db()
    assert job.state == JobState.PAUSED


def test_a_start_that_never_took_is_caught_by_the_sweep_not_by_unchanged_polls(farm, alice):
    """Polls reconcile only when the printer's report changes; the sweep judges the rest."""
    config = farm.add_machine("mk4")
    farm.poll(config)
    job = submit_job(alice, name="never-started")
    [job] = schedule_run()
    # The dispatcher believes the print started, but the printer never heard of it.
    job_transition(
        job=job.pk,
        to_state=JobState.PRINTING,
        actor_kind=ActorKind.SCHEDULER,
        reason="started (the printer lost it)",
        expected_states={JobState.DISPATCHING},
    )
    assert reconcile_sweep() == 0  # the last report predates the start: it cannot judge it
    farm.poll(config)
    job.refresh_from_db()
    assert job.state == JobState.PRINTING  # the printer's report did not change: no reconcile
    assert reconcile_sweep() == 1
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.events.last().reason == "the printer is idle and no longer reports this job"
    assert job.events.last().actor_kind == "reconciler"
