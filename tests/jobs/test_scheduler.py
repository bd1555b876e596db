"""The scheduler: which queued job goes to which idle machine, and when nothing may be dispatched."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job
from jobs.preflight import JobConstraints
from jobs.services import queue_start, queue_stop
from jobs.services.bed import machine_bed_flag_set
from jobs.services.dispatch import job_dispatch
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from machines.machine_types.printer_3d import Printer3DStatus
from tests.jobs.dispatch_support import gcode, submit_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob")


def dispatched_to(jobs) -> dict[str, str]:
    return {job.name: job.machine.name for job in jobs}


def test_a_queued_job_goes_to_an_idle_machine_and_its_upload_is_enqueued(
    farm, alice, tasks, django_capture_on_commit_callbacks
):
    mk = farm.add_machine("mk4")
    farm.poll(mk)
    job = submit_job(alice, name="bracket")
    with django_capture_on_commit_callbacks(execute=True):
        done = schedule_run()
    assert dispatched_to(done) == {"bracket": "mk4"}
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHING and job.machine_id == mk.pk
    event = job.events.last()
    assert (event.from_state, event.to_state, event.actor_kind) == ("queued", "dispatching", "scheduler")
    # (the events app also asks for its consumers to run: the dispatch is an event; and the stored ETA
    # forecast may be asked to recompute, as a job left the queue, unless a request is still pending)
    sent = [t for t in tasks.sent if t[0].startswith("jobs.")]
    assert [t for t in sent if t[0] == "jobs.tasks.job_dispatch"] == [
        ("jobs.tasks.job_dispatch", (str(job.pk),))
    ]
    assert {name for name, _ in sent} <= {"jobs.tasks.job_dispatch", "jobs.tasks.forecast_refresh"}
    # The machine now holds a job: a second run gives it nothing more.
    submit_job(alice, name="second")
    assert schedule_run() == []


def test_constraints_decide_the_machine(farm, alice):
    small = farm.add_machine("small", volume=(120, 120, 120), materials="PLA")
    petg = farm.add_machine("petg", materials="PETG", volume=(300, 300, 300))
    tagged = farm.add_machine("tagged", tags="enclosure", volume=(300, 300, 300), materials="PLA,ASA")
    farm.poll(small, petg, tagged)
    submit_job(alice, name="big", content=gcode(size=(200.0, 200.0, 5.0)))  # PLA, too big for `small`
    asa = submit_job(alice, name="asa", constraints=JobConstraints(material="ASA"))
    submit_job(alice, name="petg-part", constraints=JobConstraints(material="PETG"))
    assert dispatched_to(schedule_run()) == {"big": "tagged", "petg-part": "petg"}
    asa.refresh_from_db()
    assert asa.state == JobState.QUEUED  # only `tagged` has ASA, and it is taken


def test_material_nozzle_volume_tags_and_named_machine_are_each_respected(farm, alice):
    pla = farm.add_machine("pla", materials="PLA")
    # Machines the jobs below fit (so the upload pre-flight accepts them), busy elsewhere: never polled.
    farm.add_machine("wide", materials="PLA,PETG", volume=(300, 300, 300), tags="resin")
    farm.add_machine("fine", nozzle="0.6")
    other = farm.add_machine("other", materials="PLA")
    farm.poll(pla)
    unfit = [
        submit_job(alice, name="petg", constraints=JobConstraints(material="PETG")),
        submit_job(
            alice,
            name="nozzle",
            content=gcode(nozzle_diameter=0.6),
            constraints=JobConstraints(nozzle_diameter="0.6"),
        ),
        submit_job(alice, name="huge", content=gcode(size=(280.0, 40.0, 5.0))),
        submit_job(alice, name="tagged", constraints=JobConstraints(tags=("resin",))),
    ]
    named = submit_job(alice, name="named", constraints=JobConstraints(target_machine_id=str(other.pk)))
    assert schedule_run() == []  # nothing fits `pla`, and `other` has no live state yet
    farm.poll(other)
    assert dispatched_to(schedule_run()) == {"named": "other"}
    for job in unfit:
        job.refresh_from_db()
        assert job.state == JobState.QUEUED and job.machine is None
    named.refresh_from_db()
    assert named.state == JobState.DISPATCHING


def test_busy_inactive_bed_or_error_machines_get_nothing(farm, alice):
    awaiting = farm.add_machine("awaiting")
    broken = farm.add_machine("broken")
    off = farm.add_machine("off")
    farm.poll(awaiting, broken, off)
    machine_bed_flag_set(machine_id=awaiting.pk, required=True)
    assert farm.machine(awaiting).state.status == Printer3DStatus.AWAITING_BED_CLEAR
    farm.fault(broken, firmware_error="Thermal runaway")
    farm.poll(broken)
    assert farm.machine(broken).state.status == Printer3DStatus.ERROR
    off.active = False
    off.save()
    submit_job(alice, name="waiting")
    assert schedule_run() == []
    # The bed is confirmed clear and the fault is fixed: both take work again.
    machine_bed_flag_set(machine_id=awaiting.pk, required=False)
    farm.clear_faults(broken)
    farm.poll(awaiting, broken)
    submit_job(alice, name="second")
    assert sorted(dispatched_to(schedule_run()).values()) == ["awaiting", "broken"]


def test_owners_take_turns_at_equal_priority(farm, alice, bob):
    machines = [farm.add_machine(f"m{i}") for i in range(2)]
    farm.poll(*machines)
    for i in range(3):
        submit_job(alice, name=f"alice-{i}")
    submit_job(bob, name="bob-0")
    assert set(dispatched_to(schedule_run())) == {"alice-0", "bob-0"}
    # A third machine: alice has one job running and bob one, so alice (earliest waiting job) goes.
    third = farm.add_machine("m2")
    farm.poll(third)
    assert set(dispatched_to(schedule_run())) == {"alice-1"}


def test_the_owner_served_longest_ago_goes_first(farm, alice, bob):
    first = farm.add_machine("first")
    farm.poll(first)
    submit_job(alice, name="alice-0")
    submit_job(alice, name="alice-1")
    assert dispatched_to(schedule_run()) == {"alice-0": "first"}
    submit_job(bob, name="bob-0")  # behind alice-1 in the queue
    Job.objects.filter(name="alice-0").update(state=JobState.COMPLETED)
    machine_bed_flag_set(machine_id=first.pk, required=True)  # her part is still on `first`
    second = farm.add_machine("second")
    farm.poll(second)
    # Nobody has a job running; alice got a machine a moment ago, bob never: bob's turn.
    assert set(dispatched_to(schedule_run())) == {"bob-0"}


def test_priority_comes_before_turns(farm, alice, bob):
    mk = farm.add_machine("mk")
    farm.poll(mk)
    submit_job(alice, name="alice-0")
    urgent = submit_job(bob, name="urgent")
    Job.objects.filter(pk=urgent.pk).update(priority=5)  # staff raised it
    assert set(dispatched_to(schedule_run())) == {"urgent"}


def test_at_most_n_machines_heat_at_once(farm, alice, settings):
    settings.JOBS_MAX_HEATING = 1
    machines = [farm.add_machine(f"h{i}") for i in range(3)]
    farm.poll(*machines)
    for i in range(3):
        submit_job(alice, name=f"job-{i}")
    assert len(schedule_run()) == 1
    assert schedule_run() == []  # the first is still on its way (dispatching counts as heating)
    settings.JOBS_MAX_HEATING = 0
    assert len(schedule_run()) == 2


def test_a_print_just_started_still_counts_as_heating_until_it_makes_progress(farm, alice, settings):
    """Between the start and the next poll the printer still looks idle: the job's own state says it heats."""
    settings.JOBS_MAX_HEATING = 1
    machines = [farm.add_machine(f"h{i}") for i in range(2)]
    farm.poll(*machines)
    submit_job(alice, name="first")
    submit_job(alice, name="second")
    [first] = schedule_run()
    assert job_dispatch(job_id=first.pk).result == "printing"  # started; not polled since
    assert schedule_run() == []  # still heating as far as we know
    Job.objects.filter(pk=first.pk).update(progress=3.0)  # the printer reported progress: heated
    assert [job.name for job in schedule_run()] == ["second"]


def test_a_stopped_queue_dispatches_nothing(farm, alice, staff):
    mk = farm.add_machine("mk")
    farm.poll(mk)
    submit_job(alice, name="waiting")
    queue_stop(user=staff)
    assert schedule_run() == []
    queue_start(user=staff)
    assert dispatched_to(schedule_run()) == {"waiting": "mk"}


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("boss", is_staff=True)
