"""Submitting through the page: the same service as the API, every pre-flight reason shown, nothing
stored on failure, and the upload handler (disk, hash, size limit) in front of the CSRF check."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, JobEvent
from tests.pages.conftest import csrf_post, gcode


def _stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _post(client, content: bytes, filename="bracket.gcode", **fields):
    data = {"machine_type": "printer-3d", "file": SimpleUploadedFile(filename, content), **fields}
    return csrf_post(client, "/jobs/submit/", data)


def test_the_form_offers_file_and_constraints_with_a_progress_bar(login, student, printer):
    printer()
    html = login(student).get("/jobs/submit/").content.decode()
    assert 'enctype="multipart/form-data"' in html and "data-upload-progress" in html
    for field in ("file", "material", "nozzle_diameter", "tags", "machine_type"):
        assert f'name="{field}"' in html
    assert '<option value="printer-3d" selected>3D printer</option>' in html
    assert "mes/upload.js" in html and "<progress" in html


def test_submit_creates_a_job_with_its_constraints(login, student, printer, settings):
    printer(tags=("enclosed",))
    content = gcode()
    client = login(student)
    response = _post(client, content, material="PLA", nozzle_diameter="0.40", tags="enclosed", name="Bracket")
    assert response.status_code == 303
    job = Job.objects.get()
    assert response.url == f"/jobs/#job-{job.pk}"
    assert job.owner == student and job.state == "queued" and job.name == "Bracket"
    assert job.material == "PLA" and job.nozzle_diameter == Decimal("0.40") and job.tags == ["enclosed"]
    assert job.original_name == "bracket.gcode" and job.sha256 == hashlib.sha256(content).hexdigest()
    assert job.metadata["estimated_time_s"] == 3723
    assert JobEvent.objects.filter(job=job, kind="created", actor=student).exists()
    assert [p.read_bytes() for p in _stored_files(settings)] == [content]
    # the job shows on "my jobs" with the success message
    html = client.get("/jobs/").content.decode()
    assert "Bracket was submitted and is in the queue." in html and f'id="job-{job.pk}"' in html


def test_preflight_failures_are_listed_and_nothing_is_stored(login, student, printer, settings):
    printer(materials=("PETG",), volume=(100, 100, 100))
    bad = gcode(size_xyz=(150.0, 50.0, 10.0), material="PLA", extra="M500")
    response = _post(login(student), bad)
    assert response.status_code == 400
    html = response.content.decode()
    assert "The job was not accepted" in html
    assert "line 16: M500 is not allowed in lab prints" in html
    # list settings are stored as JSON by the machine services; the reason names the loaded material
    assert "mk4: PLA is not loaded (loaded: PETG)" in html
    assert "mk4: the print spans X 20.0…170.0 mm, outside the build volume 0…100 mm" in html
    assert html.count("<li>") >= 3 and 'class="errors reasons"' in html
    assert Job.objects.count() == 0 and JobEvent.objects.count() == 0
    assert _stored_files(settings) == []


def test_a_file_that_is_not_gcode_is_refused(login, student, printer, settings):
    printer()
    response = _post(login(student), b"\x89PNG\r\n\x1a\n" + bytes(200), filename="photo.png")
    assert response.status_code == 400
    assert "&#x27;photo.png&#x27; is not a G-code file" in response.content.decode()
    assert Job.objects.count() == 0 and _stored_files(settings) == []


def test_a_constraint_no_machine_meets_is_explained(login, student, printer):
    printer()
    response = _post(login(student), gcode(), tags="resin")
    assert response.status_code == 400
    assert "mk4: the machine lacks the tag(s) resin" in response.content.decode()
    assert Job.objects.count() == 0


def test_form_errors_are_shown_per_field(login, student, printer):
    printer()
    response = csrf_post(
        login(student), "/jobs/submit/", {"machine_type": "printer-3d", "nozzle_diameter": "x"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html and "Enter a number." in html
    assert Job.objects.count() == 0


def test_a_file_over_the_limit_is_stopped_with_413(login, student, printer, settings):
    printer()
    settings.JOBS_MAX_UPLOAD_BYTES = 2000
    response = _post(login(student), gcode() + b"; padding\n" * 400)
    assert response.status_code == 413
    assert "larger than the upload limit of 2 KiB" in response.content.decode()
    assert Job.objects.count() == 0 and _stored_files(settings) == []


def test_students_choose_no_queue_place_or_priority(login, student, printer):
    """The page has no priority or position: every student job goes to the back of the queue."""
    printer()
    client = login(student)
    _post(client, gcode(), filename="a.gcode")
    _post(client, gcode(), filename="b.gcode", priority="50", pos="front")
    first, second = Job.objects.order_by("position")
    assert (first.original_name, second.original_name) == ("a.gcode", "b.gcode")
    assert second.priority == 0


def test_the_form_states_the_limit_in_binary_units(login, student, settings):
    settings.JOBS_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
    page = login(student).get("/jobs/submit/").content.decode()
    assert "Files up to 200 MiB." in page
