"""Every transition of the job state machine, legal and illegal, through the service that enforces it."""

from __future__ import annotations

import itertools

import pytest

from jobs.exceptions import IllegalTransition, VersionConflict
from jobs.models import Job, QueueState
from jobs.services import job_transition
from jobs.states import TRANSITIONS, ActorKind, JobState
from tests.jobs.helpers import make_job

pytestmark = pytest.mark.django_db

ALL_PAIRS = [(a, b) for a, b in itertools.product(JobState.values, JobState.values) if a != b]
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("from_state", "to_state"), LEGAL)
def test_legal_transition_is_applied_and_recorded(student, from_state, to_state):
    job = make_job(student, from_state)
    result = job_transition(job=job, to_state=to_state, actor_kind=ActorKind.SCHEDULER, reason="test")
    job.refresh_from_db()
    assert job.state == to_state == result.state
    assert job.version == 2
    event = job.events.order_by("-id").first()
    assert (event.from_state, event.to_state, event.actor_kind, event.reason) == (
        from_state,
        to_state,
        "scheduler",
        "test",
    )
    if to_state in {"queued", "awaiting_approval"}:
        assert job.position is not None
    else:
        assert job.position is None
    if to_state in {"completed", "failed", "cancelled"}:
        assert job.finished_at is not None


@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL)
def test_illegal_transition_is_refused_and_changes_nothing(student, from_state, to_state):
    job = make_job(student, from_state)
    with pytest.raises(IllegalTransition) as err:
        job_transition(job=job, to_state=to_state, actor_kind=ActorKind.USER, actor=student)
    assert from_state in err.value.message
    job.refresh_from_db()
    assert job.state == from_state and job.version == 1
    assert job.events.count() == 1


def test_same_state_is_refused(student):
    job = make_job(student, "printing")
    with pytest.raises(IllegalTransition, match="already printing"):
        job_transition(job=job, to_state="printing", actor_kind=ActorKind.RECONCILER)


def test_stale_version_is_refused(student):
    job = make_job(student, "queued")
    job_transition(job=job, to_state="dispatching", actor_kind=ActorKind.SCHEDULER)
    with pytest.raises(VersionConflict):
        job_transition(job=job, to_state="cancelled", actor_kind=ActorKind.USER, expected_version=1)
    assert Job.objects.get(pk=job.pk).state == "dispatching"


def test_expected_states_guard_a_decision_made_on_old_data(student):
    job = make_job(student, "printing")
    with pytest.raises(IllegalTransition, match="not dispatching"):
        job_transition(
            job=job, to_state="failed", actor_kind=ActorKind.SCHEDULER, expected_states={"dispatching"}
        )


def test_requeue_after_failed_dispatch_goes_to_front_and_frees_machine(student, machine):
    first = make_job(student, "queued", name="first")
    job = make_job(student, "dispatching", machine=machine)
    job_transition(job=job, to_state="queued", actor_kind=ActorKind.SCHEDULER, reason="printer busy")
    job.refresh_from_db()
    assert job.machine is None
    assert job.position < first.position


def test_terminal_transition_moves_history_version(student):
    before = QueueState.objects.get_or_create(pk=1)[0].history_version
    job = make_job(student, "printing")
    job_transition(job=job, to_state="completed", actor_kind=ActorKind.RECONCILER)
    assert QueueState.objects.get(pk=1).history_version == before + 1


def test_the_migrated_database_conditions_are_the_state_sets():
    """The waiting-jobs index and the one-active-job-per-machine constraint, as migrated, cover exactly
    the sets in jobs/states.py: a state added there must reach the database too."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from jobs.states import ACTIVE_STATES, QUEUE_STATES

    job = MigrationLoader(connection).project_state().models["jobs", "job"]
    by_name = {item.name: item for item in [*job.options["indexes"], *job.options["constraints"]]}

    def states(name: str) -> set[str]:
        return set(dict(by_name[name].condition.children)["state__in"])

    assert states("job_waiting_band") == QUEUE_STATES
    assert states("job_one_active_per_machine") == ACTIVE_STATES
