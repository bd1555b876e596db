"""The event stream: written once with the change that caused it, rolled back with it, handed to each
consumer exactly once."""

from __future__ import annotations

import pytest
from django.db import transaction

from events.consumers import registry
from events.models import Event, Receipt
from events.services import event_record, events_dispatch
from jobs.models import Job
from jobs.services import job_request_cancel
from jobs.services.dispatch import job_dispatch
from jobs.services.lifecycle import job_progress_set, job_transition
from jobs.services.scheduler import schedule_run
from jobs.states import ActorKind, JobState
from machines.machine_types.printer_3d import Printer3DStatus
from machines.registry import get_registry
from tests.jobs.dispatch_support import submit_job
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


def types_for(job) -> list[str]:
    return list(Event.objects.filter(job_id=job.pk).order_by("sequence").values_list("type", flat=True))


def test_submission_writes_submitted_and_accepted_once(submit, student):
    job = submit(student)
    assert types_for(job) == ["job.submitted", "job.accepted"]
    event = Event.objects.get(job_id=job.pk, type="job.submitted")
    assert event.user_id == student.pk and event.actor == "student" and event.version == 1
    message = event.as_message()
    assert message["job_id"] == str(job.pk) and message["data"]["name"] == "part"
    assert message["data"]["state"] == JobState.QUEUED


def test_preflight_refusal_is_an_event_with_the_reasons(submit, student):
    from jobs.exceptions import JobValidationError

    with pytest.raises(JobValidationError):
        submit(student, content=b"M500\nG28\nG1 X10 E1\n")
    refused = Event.objects.get(type="job.refused")
    assert refused.user_id == student.pk and refused.job_id is None
    assert any("M500" in reason for reason in refused.payload["reasons"])


def test_transition_event_rolls_back_with_the_state_change(submit, student):
    job = submit(student)
    before = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        job_request_cancel(job=job, user=student)
        assert Event.objects.filter(job_id=job.pk, type="job.cancelled").count() == 1
        raise RuntimeError("the request failed after the change")
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    assert Event.objects.count() == before  # neither the state nor its event survived

    job_request_cancel(job=job, user=student)
    [cancelled] = Event.objects.filter(job_id=job.pk, type="job.cancelled")
    assert cancelled.actor == "student" and cancelled.payload["from_state"] == JobState.QUEUED


def test_refused_transition_writes_no_event(submit, student):
    from jobs.exceptions import IllegalTransition

    job = submit(student)
    with pytest.raises(IllegalTransition):
        job_transition(job=job, to_state=JobState.COMPLETED, actor_kind=ActorKind.SYSTEM)
    assert types_for(job) == ["job.submitted", "job.accepted"]


def test_a_print_on_the_simulator_emits_the_catalogue(farm, student):
    config = farm.add_machine("mk4")
    farm.poll(config)
    job = submit_job(student, name="box", seconds=8)
    [job] = schedule_run()
    assert job_dispatch(job_id=job.pk).result == "printing"

    def completed() -> bool:
        farm.poll(config)
        job.refresh_from_db()
        return job.state == JobState.COMPLETED

    wait_until(completed, timeout=60, interval=0.05, message="the print completed")  # not a poll count
    seen = types_for(job)
    assert seen[:4] == ["job.submitted", "job.accepted", "job.dispatched", "job.started"]
    milestones = [e.payload["milestone"] for e in Event.objects.filter(job_id=job.pk, type="job.progress")]
    assert milestones == [25, 50, 75]
    assert seen[-2:] == ["job.finished", "job.awaiting_bed_clear"]
    finished = Event.objects.get(job_id=job.pk, type="job.finished")
    assert finished.machine_id == config.pk and finished.payload["print_seconds"] > 0


def test_finished_event_carries_print_time_and_grams(submit, student, machine):
    job = submit(student)  # the file says 3.70 g of PLA
    for state in (JobState.DISPATCHING, JobState.PRINTING, JobState.COMPLETED):
        job_transition(job=job, to_state=state, actor_kind=ActorKind.RECONCILER, changes={"machine": machine})
    finished = Event.objects.get(job_id=job.pk, type="job.finished")
    assert finished.payload["filament_grams"] == pytest.approx(3.7)
    assert finished.payload["print_seconds"] >= 0 and finished.machine_id == machine.pk


def test_progress_milestones_are_written_once_each(submit, student, machine):
    job = submit(student)
    Job.objects.filter(pk=job.pk).update(state=JobState.PRINTING, machine=machine)
    for progress in (10, 30, 30, 60, 20, 80, 99):
        job_progress_set(job=job, progress=progress)
    assert [e.payload["milestone"] for e in Event.objects.filter(type="job.progress")] == [25, 50, 75]


def test_machine_status_events_only_when_the_category_changes(machine):
    live = get_registry().get_machine(machine.pk)
    live.update_state(status=Printer3DStatus.IDLE)
    live.update_state(status=Printer3DStatus.HEATING)
    live.update_state(status=Printer3DStatus.PRINTING)
    live.update_state(status=Printer3DStatus.ERROR, error="thermal runaway")
    live.update_state(status=Printer3DStatus.DISCONNECTED)
    events = list(Event.objects.filter(machine_id=machine.pk).values_list("type", "payload"))
    assert [t for t, _ in events] == ["machine.online", "machine.error", "machine.offline"]
    assert events[1][1]["errors"] == ["thermal runaway"] and events[1][1]["status_label"] == "Error"


def test_each_consumer_gets_each_event_once(submit, student):
    seen: list[tuple[str, int]] = []
    consumers = registry()
    consumers.add(name="test-a", handle=lambda event: seen.append(("a", event.sequence)))
    consumers.add(
        name="test-b", handle=lambda event: seen.append(("b", event.sequence)), types={"job.accepted"}
    )
    try:
        submit(student)
        events_dispatch()
        events_dispatch()  # a second run finds nothing new
        accepted = Event.objects.get(type="job.accepted").sequence
        assert sorted(s for c, s in seen if c == "a") == list(
            Event.objects.order_by("sequence").values_list("sequence", flat=True)
        )
        assert [s for c, s in seen if c == "b"] == [accepted]
        assert Receipt.objects.filter(consumer="test-b").count() == 1
    finally:
        consumers._consumers.pop("test-a")
        consumers._consumers.pop("test-b")


def test_a_failing_handler_leaves_no_receipt_and_is_retried(student):
    calls = []

    def flaky(event):
        calls.append(event.sequence)
        if len(calls) == 1:
            raise RuntimeError("receiver table locked")

    consumers = registry()
    consumers.add(name="test-flaky", handle=flaky)
    try:
        first = event_record(type="machine.online", payload={})
        second = event_record(type="machine.offline", payload={})
        assert events_dispatch()["test-flaky"] == -1
        # The failing event has no receipt; the one after it was still handled.
        handled = set(Receipt.objects.filter(consumer="test-flaky").values_list("event_id", flat=True))
        assert handled == {second.sequence}
        assert events_dispatch()["test-flaky"] == 1
        assert calls == [first.sequence, second.sequence, first.sequence]
        assert Receipt.objects.filter(consumer="test-flaky").count() == 2
    finally:
        consumers._consumers.pop("test-flaky")


def test_unknown_types_are_refused():
    with pytest.raises(ValueError, match="unknown event type"):
        event_record(type="job.exploded")


def test_each_event_is_one_json_log_line_with_machine_and_job(
    caplog, submit, student, machine, django_capture_on_commit_callbacks
):
    import json
    import logging

    from mes.logformat import JsonFormatter

    job = submit(student)
    with caplog.at_level(logging.INFO, logger="mes.events"), django_capture_on_commit_callbacks(execute=True):
        job_transition(
            job=job,
            to_state=JobState.DISPATCHING,
            actor_kind=ActorKind.SCHEDULER,
            changes={"machine": machine},
        )
    [record] = [r for r in caplog.records if r.name == "mes.events"]
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"].startswith("event job.dispatched")
    assert entry["event_type"] == "job.dispatched" and entry["level"] == "info"
    assert entry["job_id"] == str(job.pk) and entry["machine_id"] == str(machine.pk)
    assert entry["actor"] == "scheduler" and entry["data"]["name"] == "part"


def test_maintenance_start_and_end_are_machine_events(machine, staff):
    from maintenance.services import maintenance_end, maintenance_start

    maintenance_start(machine=machine, reason="nozzle swap", user=staff)
    maintenance_end(machine=machine, user=staff)
    events = list(Event.objects.filter(machine_id=machine.pk).values_list("type", "actor", "payload"))
    assert [(t, a) for t, a, _ in events] == [
        ("machine.maintenance", "staff"),
        ("machine.maintenance_ended", "staff"),
    ]
    assert events[0][2]["reason"] == "nozzle swap" and events[0][2]["automatic"] is False


def test_a_queue_clear_writes_one_cancelled_event_per_job(submit, student, staff):
    from jobs.services import queue_clear

    jobs = [submit(student, name=f"part-{n}") for n in range(3)]
    queue_clear(user=staff)
    cancelled = Event.objects.filter(type="job.cancelled")
    assert sorted(str(e.job_id) for e in cancelled) == sorted(str(j.pk) for j in jobs)
    assert {e.actor for e in cancelled} == {"staff"}


def test_pause_resume_and_failure_are_events_with_the_reason(submit, student, machine):
    job = submit(student)
    steps = [
        (JobState.DISPATCHING, "the scheduler chose it"),
        (JobState.PRINTING, "the printer started it"),
        (JobState.PAUSED, "filament runout"),
        (JobState.PRINTING, "the printer continued"),
        (JobState.FAILED, "the printer reported an error: thermal runaway"),
    ]
    for state, reason in steps:
        job_transition(
            job=job,
            to_state=state,
            actor_kind=ActorKind.RECONCILER,
            reason=reason,
            changes={"machine": machine},
        )
    events = Event.objects.filter(job_id=job.pk, type__in=["job.paused", "job.resumed", "job.failed"])
    assert [(e.type, e.payload["reason"]) for e in events] == [
        ("job.paused", "filament runout"),
        ("job.resumed", "the printer continued"),
        ("job.failed", "the printer reported an error: thermal runaway"),
    ]
    failed = events.get(type="job.failed")
    assert failed.machine_id == machine.pk and failed.payload["print_seconds"] >= 0


def test_forwarding_to_a_partner_lab_and_back_are_federation_events(submit, student):
    from federation.services.local_jobs import local_job_forwarded, local_job_partner_report

    job = submit(student)
    local_job_forwarded(job_id=job.pk, partner_name="lab-b")
    assert local_job_partner_report(job_id=job.pk, kind="rejected", partner_name="lab-b", detail="no PETG")
    forwarded, returned = Event.objects.filter(job_id=job.pk, type__startswith="federation.")
    assert (forwarded.type, forwarded.payload["reason"]) == (
        "federation.forwarded",
        "forwarded to partner lab lab-b",
    )
    assert (returned.type, returned.actor_kind) == ("federation.returned", "partner")
    assert returned.payload["reason"] == "partner lab lab-b refused it: no PETG"
    assert returned.payload["state"] == JobState.QUEUED and returned.user_id == student.pk


def test_events_can_be_switched_off_for_a_benchmark(submit, student, machine, settings):
    settings.EVENTS_ENABLED = False
    job = submit(student)
    job_transition(
        job=job, to_state=JobState.DISPATCHING, actor_kind=ActorKind.SCHEDULER, changes={"machine": machine}
    )
    assert event_record(type="machine.online") is None
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHING and not Event.objects.exists()
    with pytest.raises(ValueError, match="unknown event type"):
        event_record(type="job.exploded")  # still checked
