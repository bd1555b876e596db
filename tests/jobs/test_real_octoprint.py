"""A job submitted through the API prints to completion on a real OctoPrint (1.11, from PyPI) with its
virtual printer, driven by the same signals, tasks and polls as in production (tasks run here as a
worker would run them, as in test_end_to_end.py)."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job
from jobs.states import JobState
from machines.machine_types.printer_3d import Printer3DStatus
from machines.services import machine_create
from tests.drivers.conftest import _reset_real_octoprint, octoprint_backend
from tests.jobs.dispatch_support import gcode
from tests.jobs.test_end_to_end import run_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DWELL_SECONDS = 12  # the virtual printer sleeps through each G4 S1: the print lasts about this long


@pytest.fixture
def real_octoprint(octoprint_server, tmp_path):
    """The shared real OctoPrint, idle, connected and without files before and after the test."""
    backend = octoprint_backend(octoprint_server, tmp_path)
    yield octoprint_server
    _reset_real_octoprint(backend)
    backend.client.close()


def dwell_part() -> bytes:
    """The end-to-end part (PLA, 0.4 mm, inside the build volume, heaters set to 0 so no M104/M140
    waits) followed by one-second dwells, so the virtual printer is busy long enough to pause it."""
    return gcode(seconds=DWELL_SECONDS, nozzle=0, bed=0) + b"G4 S1\n" * DWELL_SECONDS


def octoprint_get(server, path: str) -> dict:
    response = requests.get(f"{server.url}{path}", headers={"X-Api-Key": server.api_key}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_a_job_submitted_through_the_api_prints_to_completion_on_real_octoprint(
    real_octoprint, farm, tasks, api
):
    student = get_user_model().objects.create_user("student")
    config = machine_create(
        name="octopi",
        machine_type="printer-3d",
        driver="octoprint",
        settings={
            "URL": real_octoprint.url,
            "API_KEY": real_octoprint.api_key,
            "CONNECT_TIMEOUT": 2,
            "READ_TIMEOUT": 10,
            "LOADED_MATERIALS": ["PLA"],
            "BUILD_VOLUME_X": 220,
            "BUILD_VOLUME_Y": 220,
            "BUILD_VOLUME_Z": 250,
        },
    )

    def wait(what: str, predicate, timeout: float) -> None:
        try:
            run_until(farm, config, tasks, predicate, timeout=timeout)
        except AssertionError:
            job_states = list(Job.objects.values_list("name", "state", "state_reason"))
            raise AssertionError(
                f"timed out waiting for {what}: machine {farm.machine(config).state.status!r} "
                f"({farm.machine(config).state.status_text!r}), jobs {job_states}"
            ) from None

    # OctoPrint connects to its virtual printer a few seconds after it starts answering.
    wait("OctoPrint to be idle", lambda: farm.machine(config).state.status == Printer3DStatus.IDLE, 60)

    upload = SimpleUploadedFile("dwell.gcode", dwell_part(), content_type="text/x-gcode")
    response = api(student).post(
        "/api/jobs/", {"file": upload, "name": "dwell", "material": "PLA"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert "jobs.tasks.scheduler_run" in tasks.names()  # queued → the scheduler is triggered

    def job_state() -> str:
        return Job.objects.values_list("state", flat=True).get(pk=job.pk)

    wait("the job to print", lambda: job_state() == JobState.PRINTING, 30)
    job.refresh_from_db()
    assert job.machine_id == config.pk
    listed = {entry["name"] for entry in octoprint_get(real_octoprint, "/api/files/local")["files"]}
    assert job.printer_file_name == f"{job.pk}.gcode"
    assert job.printer_file_name in listed, listed
    assert octoprint_get(real_octoprint, "/api/job")["job"]["file"]["name"] == job.printer_file_name

    # Pause mid-print: the request goes to OctoPrint; the job follows what OctoPrint then reports.
    assert api(student).post(f"/api/jobs/{job.pk}/pause/").status_code == 202
    assert [path for path, _ in tasks.drain(only={"jobs.tasks.job_control"})] == ["jobs.tasks.job_control"]
    job.refresh_from_db()
    assert (job.state, job.requested_action) == (JobState.PRINTING, "pause")
    wait("the job to follow OctoPrint's pause", lambda: job_state() == JobState.PAUSED, 20)
    assert octoprint_get(real_octoprint, "/api/job")["state"] == "Paused"
    paused_at = Job.objects.get(pk=job.pk).progress

    assert api(student).post(f"/api/jobs/{job.pk}/resume/").status_code == 202
    wait("the job to follow OctoPrint's resume", lambda: job_state() == JobState.PRINTING, 20)
    assert octoprint_get(real_octoprint, "/api/job")["state"] in ("Printing", "Resuming")

    seen_progress: list[float] = []

    def completed() -> bool:
        current = Job.objects.values_list("state", "progress").get(pk=job.pk)
        if current[0] == JobState.PRINTING and current[1] is not None:
            seen_progress.append(current[1])
        return current[0] == JobState.COMPLETED

    wait("the job to complete", completed, 90)
    job.refresh_from_db()
    assert job.progress == 100.0
    assert any(0 < p < 100 for p in [paused_at, *seen_progress]), (paused_at, seen_progress)
    events = api(student).get(f"/api/jobs/{job.pk}/events/").json()
    transitions = [e["to_state"] for e in events if e["kind"] == "transition"]
    assert transitions == [
        "queued",
        "dispatching",
        "uploaded",
        "printing",
        "paused",
        "printing",
        "completed",
    ], events

    # The part is on the plate: nothing else starts until someone confirms it was taken away.
    farm.poll(config)
    assert farm.machine(config).state.status == Printer3DStatus.AWAITING_BED_CLEAR, farm.machine(config).state
    response = api(student).post(f"/api/jobs/machines/{config.pk}/bed-cleared/")
    assert response.status_code == 200, response.content
    farm.poll(config)
    assert farm.machine(config).state.status == Printer3DStatus.IDLE, farm.machine(config).state
