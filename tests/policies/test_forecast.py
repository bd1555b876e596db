"""The forecast against what then happens: a simulated lab day (frozen clock stepped forward, prints
completing at their estimated end) with opening hours, an attended-only and an unattended printer and
three students; the forecast's start times are compared with the scheduler's real dispatch times."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from django.test import override_settings

from jobs.estimates import job_estimates
from jobs.models import Job
from jobs.policy import estimated_seconds
from jobs.services.bed import machine_bed_flag_set
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from policies.selectors import lab_calendar
from policies.services import machine_unattended_set
from tests.jobs.dispatch_support import submit_job
from tests.policies.conftest import api_for, page, utc, weekday_hours

pytestmark = pytest.mark.django_db
STEP = timedelta(minutes=5)


def run_day(clock, start, until):
    """Step the clock; complete prints at their estimated end (the plate stays on the bed until the
    lab is open and someone clears it); return {job id: dispatch time}."""
    started: dict = {}
    ends: dict = {}
    plates: set = set()
    calendar = lab_calendar()
    t = start
    while t <= until:
        clock.set(t)
        for job_id, end in list(ends.items()):
            if end <= t:
                job = Job.objects.get(pk=job_id)
                Job.objects.filter(pk=job_id).update(state=JobState.COMPLETED, finished_at=end, progress=100)
                machine_bed_flag_set(machine_id=job.machine_id, required=True)
                plates.add(job.machine_id)
                del ends[job_id]
        if plates and calendar.is_open(t):
            for machine_id in plates:
                machine_bed_flag_set(machine_id=machine_id, required=False)
            plates.clear()
        for job in schedule_run():
            started[job.pk] = t
            Job.objects.filter(pk=job.pk).update(state=JobState.PRINTING, started_at=t, progress=1)
            ends[job.pk] = t + timedelta(seconds=estimated_seconds(job.metadata))
        if not Job.objects.filter(state=JobState.QUEUED).exists() and not ends:
            break
        t = min([t + STEP, *ends.values()])
    return started


@override_settings(TIME_ZONE="Europe/Berlin", POLICIES_CLOSING_MARGIN_MINUTES=30)
def test_predicted_starts_agree_with_a_simulated_day(
    farm, student, other_student, staff, clock, tasks, capsys
):
    weekday_hours()  # Mon-Fri 09:00-17:00 Berlin
    attended = farm.add_machine("attended")
    night = farm.add_machine("night")
    machine_unattended_set(machine=night, allowed=True)
    farm.poll(attended, night)
    monday_8 = utc(2026, 12, 7, 7, 0)  # 08:00 local, before opening
    clock.set(monday_8)
    lengths = {
        student: [2 * 3600, 5400, 3 * 3600, 1800],
        other_student: [3600, 4 * 3600, 2700],
        staff: [6 * 3600, 1200],
    }
    jobs = []
    for depth in range(4):  # interleaved submissions, as a morning at the lab
        for owner, items in lengths.items():
            if depth < len(items):
                jobs.append(submit_job(owner, name=f"{owner.username}-{depth}", seconds=items[depth]))
    estimates = job_estimates(jobs=jobs)
    predicted = {job.pk: estimates[job.pk].start for job in jobs}
    assert all(predicted.values())
    # What the student sees is the same forecast
    mine = jobs[0]
    assert api_for(student).get(f"/api/jobs/{mine.pk}/").json()["estimate"]["start"] == "2026-12-07T07:00:00Z"
    assert "Estimated start" in page(student, f"/jobs/{mine.pk}/")

    started = run_day(clock, monday_8, monday_8 + timedelta(days=3))
    assert set(started) == {job.pk for job in jobs}
    errors = [abs((started[job.pk] - predicted[job.pk]).total_seconds()) / 60 for job in jobs]
    mean = statistics.mean(errors)
    p90 = statistics.quantiles(errors, n=10)[-1] if len(errors) > 1 else errors[0]
    with capsys.disabled():
        print(
            f"\nforecast vs simulated day: {len(errors)} jobs, start error mean {mean:.1f} min, p90 {p90:.1f} min"
        )
    # The forecast plays the same scheduler forward: in a day where every print takes its estimate,
    # every job starts when it said (the clock steps to each print's end and every 5 minutes).
    assert mean <= 5 and p90 <= 5, errors
