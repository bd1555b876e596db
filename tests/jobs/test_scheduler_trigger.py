"""Scheduler triggers coalesce: a burst of idle printers queues one scheduler run, not one each."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_q.models import OrmQ

from jobs.services.scheduler import scheduler_run_request, scheduler_run_started

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded_engine(settings):
    settings.TASK_ENGINE = "django-q"
    scheduler_run_started()  # no mark left over from another test …
    yield
    scheduler_run_started()  # … and none left for the next (flush does not empty the cache table)


def test_a_burst_of_triggers_queues_one_run():
    for _ in range(200):
        scheduler_run_request()
    assert OrmQ.objects.count() == 1


def test_a_trigger_during_a_run_queues_the_next_one():
    scheduler_run_request()
    scheduler_run_started()  # the worker picked the run up
    scheduler_run_request()
    scheduler_run_request()
    assert OrmQ.objects.count() == 2


def test_a_rolled_back_trigger_leaves_no_mark_behind():
    with pytest.raises(RuntimeError), transaction.atomic():
        scheduler_run_request()
        raise RuntimeError("rolled back")
    scheduler_run_request()
    assert OrmQ.objects.count() == 1
