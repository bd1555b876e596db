"""Concurrent writers on a real PostgreSQL: API and worker never lose one another's updates."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connection

from jobs.exceptions import IllegalTransition, JobError
from jobs.models import Job
from jobs.selectors import queue_list
from jobs.services import Location, job_transition, job_update, queue_move
from tests.jobs.helpers import make_job

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*functions):
    """Start every function at the same moment in its own thread (own DB connection); return outcomes."""
    barrier = threading.Barrier(len(functions))
    outcomes: list = [None] * len(functions)

    def runner(index, fn):
        try:
            barrier.wait()
            outcomes[index] = fn()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_concurrent_updates_are_all_kept(student):
    job = make_job(student)
    fields = ["name", "notes"] * 4
    outcomes = run_together(
        *[
            lambda i=i, f=f: job_update(job=job.pk, user=student, data={f: f"value {i}"})
            for i, f in enumerate(fields)
        ]
    )
    assert all(isinstance(o, Job) for o in outcomes), outcomes
    job.refresh_from_db()
    assert job.version == 1 + len(fields)
    assert job.events.filter(kind="update").count() == len(fields)


def test_versioned_updates_from_the_same_read_let_exactly_one_win(student):
    job = make_job(student)
    outcomes = run_together(
        *[
            lambda i=i: job_update(job=job.pk, user=student, data={"name": f"n{i}"}, expected_version=1)
            for i in range(6)
        ]
    )
    winners = [o for o in outcomes if isinstance(o, Job)]
    assert len(winners) == 1
    assert all(isinstance(o, JobError) and o.status_code == 409 for o in outcomes if o not in winners)
    job.refresh_from_db()
    assert job.name == winners[0].name and job.version == 2


def test_two_schedulers_never_dispatch_one_job_twice(student, machine):
    from tests.jobs.conftest import make_machine

    other = make_machine("second")
    for _ in range(5):
        job = make_job(student)
        outcomes = run_together(
            *[
                lambda j=job, m=m: job_transition(
                    job=j.pk, to_state="dispatching", actor_kind="scheduler", changes={"machine": m}
                )
                for m in (machine, other)
            ]
        )
        won = [o for o in outcomes if isinstance(o, Job)]
        lost = [o for o in outcomes if isinstance(o, IllegalTransition)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        job.refresh_from_db()
        assert job.machine_id == won[0].machine_id
        assert job.events.filter(kind="transition").count() == 1
        Job.objects.filter(pk=job.pk).update(state="completed")  # free the machine (one active job each)


def test_cancel_racing_dispatch_leaves_a_consistent_trail(student, machine):
    for _ in range(5):
        job = make_job(student)
        run_together(
            lambda j=job: job_transition(job=j.pk, to_state="cancelled", actor_kind="user", actor=student),
            lambda j=job: job_transition(
                job=j.pk, to_state="dispatching", actor_kind="scheduler", changes={"machine": machine}
            ),
        )
        job.refresh_from_db()
        chain = list(
            job.events.filter(kind="transition").order_by("id").values_list("from_state", "to_state")
        )
        assert chain[0][0] == "queued" and chain[-1][1] == job.state
        assert all(a[1] == b[0] for a, b in itertools.pairwise(chain))
        assert job.version == 1 + len(chain)


def test_concurrent_moves_keep_a_consistent_queue(student, staff):
    jobs = [make_job(student, name=f"j{i}") for i in range(8)]
    outcomes = run_together(
        *[lambda j=j: queue_move(job=j.pk, location=Location(pos="front"), user=staff) for j in jobs[4:]]
    )
    assert all(isinstance(o, Job) for o in outcomes), outcomes
    queue = list(queue_list(user=staff))
    positions = [j.position for j in queue]
    assert len(queue) == 8 and len(set(positions)) == 8
    assert {j.name for j in queue[:4]} == {"j4", "j5", "j6", "j7"}
