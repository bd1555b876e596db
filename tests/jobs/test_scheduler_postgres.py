"""Several schedulers at once on a real PostgreSQL: no job is dispatched twice, no machine gets two jobs."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job, JobEvent
from jobs.services.scheduler import schedule_run
from jobs.states import ACTIVE_STATES
from tests.jobs.dispatch_support import submit_job
from tests.jobs.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_schedulers_share_out_machines_without_collisions(farm):
    users = [get_user_model().objects.create_user(f"user{i}") for i in range(3)]
    machines = [farm.add_machine(f"m{i}") for i in range(4)]
    farm.poll(*machines)
    for round_ in range(3):
        for user in users:
            submit_job(user, name=f"{user.username}-{round_}")
    outcomes = run_together(*[schedule_run for _ in range(4)])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    dispatched = [job.pk for batch in outcomes for job in batch]
    assert len(dispatched) == len(set(dispatched)) == len(machines)
    active = Job.objects.filter(state__in=ACTIVE_STATES)
    assert Counter(active.values_list("machine_id", flat=True)).most_common(1)[0][1] == 1
    assert active.count() == len(machines)
    # Every job was moved to dispatching exactly once.
    moves = Counter(JobEvent.objects.filter(to_state="dispatching").values_list("job_id", flat=True))
    assert set(moves.values()) == {1}
    # Four racing schedulers still fill every machine exactly once (nothing is lost to a collision);
    # turns between owners are only promised within one run.
