"""Fair share: the scheduler's ordering among allowed jobs is one replaceable class; the default lets
owners take turns, a replacement changes the order and nothing else."""

from __future__ import annotations

import pytest

from jobs.services.scheduler import schedule_run
from tests.jobs.dispatch_support import submit_job

pytestmark = pytest.mark.django_db


def _queue(farm, student, other_student):
    machines = [farm.add_machine("mk4"), farm.add_machine("mini")]
    farm.poll(*machines)
    for n in range(3):
        submit_job(student, name=f"ada-{n}")
    submit_job(other_student, name="grace-0")


def test_by_default_owners_take_turns(farm, student, other_student):
    _queue(farm, student, other_student)
    assert sorted(job.name for job in schedule_run()) == ["ada-0", "grace-0"]


def test_the_policy_is_a_setting(farm, student, other_student, settings):
    settings.JOBS_FAIR_SHARE_POLICY = "jobs.fairshare.QueueOrder"
    _queue(farm, student, other_student)
    assert sorted(job.name for job in schedule_run()) == ["ada-0", "ada-1"]


class MostWaitingFirst:
    """A lab's own policy: the owner with the most waiting jobs goes first."""

    def __init__(self, jobs):
        pass

    def next_owner(self, band, order):
        return max(band, key=lambda owner: (len(band[owner]), -order[band[owner][0].pk]))

    def dispatched(self, owner, job, at=None):
        pass

    def finished(self, owner, job=None):
        pass


def test_a_lab_can_plug_in_its_own_policy(farm, student, other_student, settings):
    settings.JOBS_FAIR_SHARE_POLICY = f"{__name__}.MostWaitingFirst"
    _queue(farm, student, other_student)
    assert sorted(job.name for job in schedule_run()) == ["ada-0", "ada-1"]
