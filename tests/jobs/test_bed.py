"""Awaiting bed clear: after a print the machine waits until staff or the student confirm the plate is empty."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from jobs.models import JobEvent
from jobs.services.scheduler import schedule_run
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.models import MachineState
from opcua.signals import bed_cleared_requested
from tests.jobs.dispatch_support import submit_job
from tests.jobs.test_reconciler import poll_until, printing_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def finished(farm, alice):
    """A machine whose print just completed: its plate is waiting to be cleared."""
    config, job = printing_job(farm, alice, seconds=10)
    job = poll_until(farm, config, job, "completed")
    farm.poll(config)
    assert farm.machine(config).state.status == Printer3DStatus.AWAITING_BED_CLEAR
    return farm, config, job


def url(config) -> str:
    return f"/api/jobs/machines/{config.pk}/bed-cleared/"


def test_the_flag_survives_a_cache_flush(finished):
    farm, config, _job = finished
    cache.clear()
    assert MachineState.objects.get(machine=config).data[BED_CLEAR_REQUIRED] is True
    assert farm.machine(config).state.data[BED_CLEAR_REQUIRED] is True


def test_the_owner_confirms_and_the_machine_takes_the_next_job(
    finished, alice, api, tasks, django_capture_on_commit_callbacks
):
    farm, config, job = finished
    waiting = submit_job(alice, name="next")
    assert schedule_run() == []
    other = get_user_model().objects.create_user("mallory")
    assert api(other).post(url(config)).status_code == 403
    farm.clear_bed(config)  # the student takes the part off the plate…
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(url(config))  # …and says so
    assert response.status_code == 200, response.content
    assert response.json()["job"] == str(job.pk)
    event = job.events.filter(kind=JobEvent.Kind.UPDATE).last()
    assert event.actor == alice and event.reason == f"bed cleared on {config.name} by alice"
    machine = farm.machine(config)
    assert machine.state.data[BED_CLEAR_REQUIRED] is False
    assert machine.state.status == Printer3DStatus.IDLE
    assert "jobs.tasks.scheduler_run" in tasks.names()
    farm.poll(config)
    assert machine.state.status == Printer3DStatus.IDLE  # the next poll agrees
    assert [j.pk for j in schedule_run()] == [waiting.pk]
    # Confirming again is a clear 409, not a silent success.
    response = api(alice).post(url(config))
    assert response.status_code == 409 and "not waiting" in response.json()["detail"]


def test_unknown_machine_is_404_and_anonymous_is_refused(finished, api):
    farm, config, _job = finished
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    assert (
        api(staff).post("/api/jobs/machines/00000000-0000-0000-0000-000000000000/bed-cleared/").status_code
        == 404
    )
    assert api().post(url(config)).status_code in (401, 403)
    assert farm.machine(config).state.data[BED_CLEAR_REQUIRED] is True


def test_the_opcua_bridge_confirms_with_its_user_name(finished):
    farm, config, job = finished
    results = bed_cleared_requested.send_robust(
        sender=None, machine_id=str(config.pk), user="opcua:robot-cell"
    )
    assert all(not isinstance(result, Exception) for _, result in results), results
    event = job.events.filter(kind=JobEvent.Kind.UPDATE).last()
    assert event.actor_kind == "opcua" and event.reason.endswith("by opcua:robot-cell")
    assert farm.machine(config).state.data[BED_CLEAR_REQUIRED] is False
