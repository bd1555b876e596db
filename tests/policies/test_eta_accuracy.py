"""The ETA board against what then happens: a simulated lab day with the real simulator, driver,
poller steps, reconciler, scheduler and stored forecast (``tests/policies/simday.py`` says how the
day runs and why it uses one simulated clock rather than a fast simulator in real time)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs.models import Job
from jobs.states import JobState
from tests.policies.simday import run_day, simulated_lab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# What "right" means for a board in a hallway: within a staff round of clearing plates (10 min)
# plus the heating the G-code estimate leaves out (about a minute per print before it on the printer).
MEAN_TOLERANCE_MIN = 10
P90_TOLERANCE_MIN = 20


@override_settings(TIME_ZONE="UTC", POLICIES_CLOSING_MARGIN_MINUTES=30)
def test_predicted_starts_agree_with_a_simulated_day(monkeypatch, capsys):
    with simulated_lab(monkeypatch.setattr) as (farm, clock, tasks):
        result = run_day(farm, clock, tasks)
    with capsys.disabled():
        print(f"\nETA board vs a simulated day: {result.summary()}")
    assert set(result.actual) == set(result.names), "every job printed within the simulated day"
    assert Job.objects.filter(state=JobState.COMPLETED).count() == len(result.names)
    # Jobs that cannot end before closing on an attended printer are predicted at the next opening,
    # and that is when they start.
    assert result.forced, "the day has jobs forced past closing"
    for job_id in result.forced:
        assert result.actual[job_id] - result.predicted[job_id] <= __import__("datetime").timedelta(
            minutes=P90_TOLERANCE_MIN
        ), result.names[job_id]
    assert result.mean <= MEAN_TOLERANCE_MIN, result.summary()
    assert result.p90 <= P90_TOLERANCE_MIN, result.summary()
