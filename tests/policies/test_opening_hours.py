"""Opening hours in the scheduler: an attended-only machine starts no job that would end after closing
minus the margin (using the machine's measured speed), such jobs wait for the next opening and say so,
machines allowed to run unattended and jobs staff let through are not held back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from jobs.models import Job
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from policies.services import closure_create, job_override_set, machine_unattended_set
from tests.jobs.dispatch_support import submit_job
from tests.policies.conftest import api_for, page, utc, weekday_hours

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("berlin")]

HOURS_3 = 3 * 3600


@pytest.fixture
def berlin(settings):
    with override_settings(TIME_ZONE="Europe/Berlin", POLICIES_CLOSING_MARGIN_MINUTES=30):
        weekday_hours()  # Mon-Fri 09:00-17:00 Berlin (UTC+1 in December)
        yield


def test_a_job_that_would_end_after_closing_waits_for_the_next_opening(farm, student, clock):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    clock.set(utc(2026, 12, 7, 14, 0))  # Monday 15:00 local: 3 h would end 18:00, after 16:30
    job = submit_job(student, name="long part", seconds=HOURS_3)
    assert schedule_run() == []
    waiting = "waits for opening at Tue 09:00"
    assert api_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"] == waiting
    assert waiting in page(student, "/jobs/")
    assert waiting in page(student, f"/jobs/{job.pk}/")
    # Overnight nothing starts either
    clock.set(utc(2026, 12, 7, 23, 0))
    assert schedule_run() == []
    # Tuesday 09:00 local = 08:00 UTC: it starts
    clock.set(utc(2026, 12, 8, 8, 0))
    [done] = schedule_run()
    assert done.pk == job.pk and done.machine_id == mk4.pk


def test_a_short_job_starts_before_closing(farm, student, clock):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    clock.set(utc(2026, 12, 7, 14, 0))  # 15:00 local
    job = submit_job(student, name="short", seconds=3600)  # ends 16:00, before 16:30
    [done] = schedule_run()
    assert done.pk == job.pk


def test_friday_afternoon_waits_for_monday(farm, student, clock):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    clock.set(utc(2026, 12, 11, 15, 0))  # Friday 16:00 local
    submit_job(student, name="weekend", seconds=2700)  # would end 16:45, past 16:30
    assert schedule_run() == []
    reason = api_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"]
    assert reason == "waits for opening at Mon 09:00"


def test_the_machine_speed_factor_from_past_prints_lengthens_the_estimate(farm, student, clock):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    # mk4's last print took twice its estimate
    past = submit_job(student, name="past", seconds=3600)
    start = utc(2026, 12, 1, 9, 0)
    Job.objects.filter(pk=past.pk).update(
        state=JobState.COMPLETED,
        machine=mk4,
        started_at=start,
        finished_at=start + timedelta(hours=2),
        position=None,
    )
    clock.set(utc(2026, 12, 7, 13, 0))  # 14:00 local: 1.5 h would end 15:30, but 3 h end 17:00
    submit_job(student, name="now", seconds=5400)
    assert schedule_run() == []
    assert api_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"] == (
        "waits for opening at Tue 09:00"
    )


def test_unattended_machines_and_overridden_jobs_are_not_held_back(farm, student, clock):
    attended = farm.add_machine("attended")
    night = farm.add_machine("night")
    machine_unattended_set(machine=night, allowed=True)
    farm.poll(attended, night)
    clock.set(utc(2026, 12, 7, 20, 0))  # Monday 21:00 local, closed
    first = submit_job(student, name="first", seconds=HOURS_3)
    second = submit_job(student, name="second", seconds=HOURS_3)
    [done] = schedule_run()
    assert done.pk == first.pk and done.machine_id == night.pk
    assert schedule_run() == []
    job_override_set(job_id=second.pk, ignore_opening_hours=True, reason="staff stays late")
    [done] = schedule_run()
    assert done.pk == second.pk and done.machine_id == attended.pk


def test_staff_set_the_override_through_the_api(farm, student, staff, clock):
    clock.set(utc(2026, 12, 7, 20, 0))
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    job = submit_job(student, name="late", seconds=HOURS_3)
    assert schedule_run() == []
    body = {"job_id": str(job.pk), "ignore_opening_hours": True, "reason": "supervised"}
    assert api_for(student).post("/api/policies/overrides/", body, format="json").status_code == 403
    response = api_for(staff).post("/api/policies/overrides/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["created_by"] == "tech"
    [done] = schedule_run()
    assert done.pk == job.pk


def test_a_closure_holds_jobs_until_the_lab_reopens_across_the_dst_change(farm, student, clock):
    # Berlin goes to summer time on Sunday 29 March 2026; closed Fri 27 to Mon 30 March.
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    closure_create(
        start_date=utc(2026, 3, 27, 12).date(), end_date=utc(2026, 3, 30, 12).date(), reason="Easter"
    )
    clock.set(utc(2026, 3, 27, 9, 0))  # Friday 10:00 CET, a closure day
    job = submit_job(student, name="holiday", seconds=3600)
    assert schedule_run() == []
    reason = api_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"]
    assert reason == "waits for opening at Tue 09:00"
    clock.set(utc(2026, 3, 31, 6, 59))  # 08:59 CEST
    assert schedule_run() == []
    clock.set(utc(2026, 3, 31, 7, 0))  # 09:00 CEST = 07:00 UTC (08:00 UTC before the change)
    [done] = schedule_run()
    assert done.pk == job.pk
