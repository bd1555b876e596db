"""Both task engines run the whole loop in real processes: a job submitted over HTTP prints to completion.

The embedded default (django-q2 on the SQLite ORM broker, database cache) and the scale-out setup
(Celery on Redis, PostgreSQL) each run web, worker, beat, poller and a simulated printer; a student's
upload goes through the queue, the scheduler, dispatch on the worker and the reconciler in the poller.
"""

from __future__ import annotations

import pytest

from tests.runtime.fault_support import Stack, fresh_postgres, gcode, running
from tests.services import private_redis, require_postgres
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

JOURNEY = ["submitted", "queued", "dispatching", "uploaded", "printing", "completed"]


def print_one_job(stack: Stack) -> None:
    stack.setup()
    with running(stack):
        stack.start_simulator(1, speed=30)
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        stack.start_poller()
        wait_until(
            lambda: stack.machines()["sim-001"]["live"]["status"]["label"] == "Idle",
            timeout=60,
            message="the simulated printer to be polled as Idle",
        )
        job_id = stack.submit("bracket", gcode(seconds=60))
        try:
            wait_until(
                lambda: stack.job_states()[job_id] == "completed", timeout=120, message="the job to complete"
            )
        except AssertionError:
            raise AssertionError(f"job is {stack.job_states()[job_id]}\n{stack.logs()}") from None
        events = stack.api("GET", f"/api/jobs/{job_id}/events/").json()
        rows = events["results"] if isinstance(events, dict) else events
        assert [row["to_state"] for row in rows] == JOURNEY
        printers = stack.sim_printers()
        assert sum(p["prints_started"] for p in printers) == 1  # printed exactly once
        machine = stack.machines()["sim-001"]
        assert machine["live"]["status"]["label"] == "Awaiting bed clear"


def test_embedded_engine_prints_a_job_end_to_end(tmp_path):
    print_one_job(Stack(tmp_path / "var", engine="django-q"))


def test_celery_engine_on_postgres_and_redis_prints_a_job_end_to_end(tmp_path):
    server = require_postgres()
    with private_redis() as redis_url, fresh_postgres(server) as database_url:
        print_one_job(
            Stack(tmp_path / "var", database_url=database_url, redis_url=redis_url, engine="celery")
        )
