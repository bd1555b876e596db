"""A job submitted through the API prints to completion on the simulator, driven by the same signals,
tasks and polls as in production (tasks run here as a worker would run them)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job
from jobs.states import JobState
from machines.machine_types.printer_3d import Printer3DStatus
from tests.jobs.dispatch_support import gcode
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def run_until(farm, config, tasks, predicate, timeout: float = 30.0) -> None:
    """The runtime loop: run queued tasks, poll the machine, until ``predicate()``."""

    def step() -> bool:
        if predicate():
            return True
        tasks.drain()
        farm.poll(config)
        return False

    wait_until(step, timeout=timeout, message="the farm to get there")


def test_a_job_submitted_through_the_api_prints_to_completion(farm, tasks, api):
    student = get_user_model().objects.create_user("student")
    config = farm.add_machine("mk4")
    farm.poll(config)
    tasks.drain()  # the machine became idle: a scheduler run with nothing to do

    def submit(name):
        upload = SimpleUploadedFile(f"{name}.gcode", gcode(seconds=20), content_type="text/x-gcode")
        response = api(student).post("/api/jobs/", {"file": upload, "name": name}, format="multipart")
        assert response.status_code == 201, response.content
        return Job.objects.get(pk=response.json()["id"])

    first = submit("first")
    second = submit("second")
    assert "jobs.tasks.scheduler_run" in tasks.names()  # queued → the scheduler is triggered
    run_until(farm, config, tasks, lambda: Job.objects.get(pk=first.pk).state == JobState.COMPLETED)
    first.refresh_from_db()
    states = list(first.events.values_list("to_state", flat=True))
    assert states[-5:] == ["queued", "dispatching", "uploaded", "printing", "completed"]
    assert first.progress == 100.0
    second.refresh_from_db()
    assert second.state == JobState.QUEUED  # the plate is not cleared yet
    assert farm.machine(config).state.status == Printer3DStatus.AWAITING_BED_CLEAR

    farm.clear_bed(config)
    assert api(student).post(f"/api/jobs/machines/{config.pk}/bed-cleared/").status_code == 200
    run_until(farm, config, tasks, lambda: Job.objects.get(pk=second.pk).state == JobState.COMPLETED)
    snapshot = farm.snapshot(config)
    assert snapshot["starts_by_file"] == {first.printer_file_name: 1, second.printer_file_name: 1}
    assert snapshot["dirty_bed_starts"] == 0
