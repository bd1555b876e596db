"""make run lands a newcomer on a busy board: demo students' example prints (with slicer thumbnails) fill
the queue of the simulated fleet, with a short history, once; the scheduler sends them to the printers."""

from __future__ import annotations

import io
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from jobs.demo import EXTRA_JOBS, RESTARTED
from jobs.models import Job
from jobs.selectors import queue_waiting_reasons
from jobs.states import JobState
from mes.signals import demo_fleet_registered
from policies.models import TrainingRecord
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db

STUDENTS = ["ada", "grace", "alan"]


@pytest.fixture
def demo_fleet(farm, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    get_user_model().objects.create_superuser("admin", "admin@lab.test", "pw")
    # make run loads PLA, PETG, ASA and TPU spools; without spools the setting says what is loaded.
    return [farm.add_machine(f"sim-{n:03d}", materials="PLA,PETG,ASA") for n in range(1, 9)]


def demo_jobs():
    return Job.objects.filter(owner__username__in=STUDENTS)


def start_up(machines) -> None:
    """What ``up --simulate`` does as the simulator starts (simulate_fleet --demo --demo-jobs)."""
    demo_fleet_registered.send(sender=None, machine_ids=[m.pk for m in machines], example_jobs=True)


def test_start_up_queues_example_prints_with_thumbnails_and_a_short_history(demo_fleet, settings):
    start_up(demo_fleet)
    queued = demo_jobs().filter(state=JobState.QUEUED)
    assert queued.count() == len(demo_fleet) + EXTRA_JOBS
    assert {job.owner.username for job in queued} == set(STUDENTS)
    assert all(job.thumbnail.name for job in demo_jobs())  # every example carries the slicer's picture
    assert {job.metadata["estimated_time_s"] for job in queued} <= {60 * m for m in range(5, 40)}
    history = {
        job.name: (job.state, job.machine.name, job.state_reason)
        for job in demo_jobs().exclude(state=JobState.QUEUED)
    }
    assert history == {
        "Bookmark": ("completed", "sim-001", "the printer finished it"),
        "Hinge": ("completed", "sim-002", "the printer finished it"),
        "Desk organiser": (
            "failed",
            "sim-004",
            "the printer reported an error: Thermal runaway: heater decoupled",
        ),
    }
    # The students may print (make run's demo requires "FDM basics" on every 3D printer) and log in.
    assert TrainingRecord.objects.filter(user__username__in=STUDENTS).count() == 3
    password_file = settings.VAR_DIR / "demo-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().split("password: ")[1].strip()
    assert get_user_model().objects.get(username="ada").check_password(password)


def test_a_second_start_up_tops_the_queue_up_instead_of_piling_jobs_on(demo_fleet):
    start_up(demo_fleet)
    start_up(demo_fleet)
    assert demo_jobs().filter(state=JobState.QUEUED).count() == len(demo_fleet) + EXTRA_JOBS
    assert demo_jobs().exclude(state=JobState.QUEUED).count() == 3  # the history is seeded once
    # Jobs that were printing when the simulator stopped are gone with it; the queue is topped up again.
    printing = demo_jobs().filter(state=JobState.QUEUED)[:2]
    for job, machine in zip(printing, demo_fleet, strict=False):
        Job.objects.filter(pk=job.pk).update(state=JobState.PRINTING, machine=machine, position=None)
    start_up(demo_fleet)
    assert demo_jobs().filter(state=JobState.FAILED, state_reason=RESTARTED).count() == 2
    assert demo_jobs().filter(state=JobState.QUEUED).count() == len(demo_fleet) + EXTRA_JOBS


@pytest.mark.django_db(transaction=True)  # the scheduler is asked after commit, as in production
def test_the_scheduler_sends_the_examples_to_the_simulated_printers(demo_fleet, farm, tasks):
    start_up(demo_fleet)

    def printing() -> bool:
        farm.poll(*demo_fleet)
        tasks.drain()
        return demo_jobs().filter(state=JobState.PRINTING).count() >= 4

    # At least the four printers allowed to run unattended (the others follow the opening hours).
    def waiting() -> str:
        jobs = list(demo_jobs().filter(state=JobState.QUEUED))
        return f"the example prints to reach the printers; waiting: {queue_waiting_reasons(jobs=jobs)}"

    wait_until(printing, timeout=60, interval=0.2, message=waiting)
    started = demo_jobs().filter(state=JobState.PRINTING)
    assert all(job.thumbnail.name and job.machine.name.startswith("sim-") for job in started)


def test_the_command_seeds_the_same_and_says_where_the_password_is(demo_fleet, settings):
    out = io.StringIO()
    call_command("seed_demo_jobs", stdout=out)
    assert f"{len(demo_fleet) + EXTRA_JOBS} example job(s) queued, 3 in the history" in out.getvalue()
    assert "ada, grace, alan" in out.getvalue() and "demo-password" in out.getvalue()
    out = io.StringIO()
    call_command("seed_demo_jobs", stdout=out)
    assert "0 example job(s) queued, 0 in the history" in out.getvalue()
    with pytest.raises(CommandError, match="no machine named nope"):
        call_command("seed_demo_jobs", "--machine", "nope")
