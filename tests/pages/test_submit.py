"""Submitting through the page: upload (one file or several), see the pre-flight of each before any job
exists, then confirm (or cancel). The same checks as the API, every reason shown, nothing kept of a
refused file, and the upload handler (disk, hash, size limit) in front of the CSRF check."""

from __future__ import annotations

import hashlib
import html
import re
from decimal import Decimal
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from events.models import Event
from jobs.estimates import job_estimates
from jobs.models import Job, JobEvent, StagedUpload
from jobs.preview import staged_previews
from jobs.services import JobSpec, job_submit
from jobs.services.staging import staged_list
from machines.models import MachineConfig
from policies.services import quota_create
from tests.jobs.thumbnail_samples import with_thumbnail
from tests.pages.conftest import csrf_post, gcode


def _stored_files(settings, under: str = "") -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / under
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _post(client, *files: tuple[str, bytes], extra: dict | None = None, **fields):
    uploads = [SimpleUploadedFile(name, content) for name, content in files or [("bracket.gcode", gcode())]]
    data = {"machine_type": "printer-3d", "file": uploads, **fields}
    return csrf_post(client, "/jobs/submit/", data, **(extra or {}))


def _confirm(client, *previews):
    return csrf_post(client, "/jobs/submit/confirm/", {"preview": [str(p.pk) for p in previews]})


def _text(response) -> str:
    """The page as a reader sees it: tags out, entities decoded, white space collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_the_form_takes_several_files_and_constraints(login, student, printer, settings):
    printer()
    settings.JOBS_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
    page = login(student).get("/jobs/submit/").content.decode()
    assert 'enctype="multipart/form-data"' in page and "data-upload-progress" in page
    assert re.search(r'<input type="file" name="file" [^>]*multiple', page)
    for field in ("material", "nozzle_diameter", "tags", "machine_type"):
        assert f'name="{field}"' in page
    assert '<option value="printer-3d" selected>3D printer</option>' in page
    assert "mes/upload.js" in page and f'data-max-bytes="{200 * 1024 * 1024}"' in page
    assert "Files up to 200 MiB each." in page
    assert 'id="previews" class="previews" aria-labelledby="previews-heading" hidden' in page  # none yet


def test_an_upload_is_previewed_and_no_job_exists_until_confirmed(
    login, student, printer, settings, django_capture_on_commit_callbacks
):
    printer(tags=("enclosed",))
    printer("mini", volume=(50, 50, 50), tags=("enclosed",))
    content = gcode()
    client = login(student)
    response = _post(
        client, ("bracket.gcode", content), material="PLA", nozzle_diameter="0.40", tags="enclosed"
    )
    assert response.status_code == 200
    assert Job.objects.count() == 0
    staged = StagedUpload.objects.get()
    assert staged.owner == student and staged.sha256 == hashlib.sha256(content).hexdigest()
    assert [p.read_bytes() for p in _stored_files(settings)] == [content]  # stored once, under staged/
    assert _stored_files(settings, "staged") == [Path(settings.MEDIA_ROOT) / f"staged/{staged.pk}.gcode"]
    text = _text(response)
    assert "Ready to confirm bracket.gcode" in text
    assert "Estimated print time 1 h 02 min" in text
    assert "Filament 3.7 g · 1.23 m PLA" in text
    assert "Machines that fit mk4" in text
    assert (
        "Why 1 other does not mini: the print spans X 20.0…70.0 mm, outside the build volume 0…50 mm" in text
    )
    assert re.search(r"Earliest start \w{3} \d+ \w{3} \d\d:\d\d on mk4 \(right away; done about", text)
    assert f'name="preview" value="{staged.pk}" form="confirm-all"' in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = _confirm(client, staged)
    assert confirmed.status_code == 303
    job = Job.objects.get()
    assert confirmed.url == f"/jobs/#job-{job.pk}"
    assert job.owner == student and job.state == "queued" and job.name == "bracket.gcode"
    assert job.material == "PLA" and job.nozzle_diameter == Decimal("0.40") and job.tags == ["enclosed"]
    assert job.sha256 == hashlib.sha256(content).hexdigest() and job.metadata["estimated_time_s"] == 3723
    assert JobEvent.objects.filter(job=job, kind="created", actor=student).exists()
    assert StagedUpload.objects.count() == 0 and _stored_files(settings, "staged") == []
    assert [p.read_bytes() for p in _stored_files(settings)] == [content]  # the job's copy only
    assert "bracket.gcode was submitted and is in the queue." in client.get("/jobs/").content.decode()
    assert 'id="previews" class="previews" aria-labelledby="previews-heading" hidden' in (
        client.get("/jobs/submit/").content.decode()
    )


def test_the_name_given_on_the_form_is_the_jobs(login, student, printer):
    printer()
    client = login(student)
    _post(client, ("bracket.gcode", gcode()), name="Wall bracket")
    assert "Ready to confirm Wall bracket bracket.gcode" in _text(client.get("/jobs/submit/"))
    _confirm(client, StagedUpload.objects.get())
    assert Job.objects.get().name == "Wall bracket"


def test_the_earliest_start_follows_the_queue_and_each_file_of_a_batch(login, student, printer):
    printer()
    spec = JobSpec(file=SimpleUploadedFile("ahead.gcode", gcode()))
    ahead = job_submit(user=student, spec=spec)  # waits first: 1 h 02 min on the one printer
    client = login(student)
    _post(client, ("one.gcode", gcode()), ("two.gcode", gcode()))
    first, second = staged_previews(user=student, staged=staged_list(user=student))
    ahead_finish = job_estimates(jobs=[ahead])[ahead.pk].finish
    assert abs((first.start - ahead_finish).total_seconds()) < 5
    assert second.start == first.finish and (second.finish - second.start).total_seconds() == 3723
    assert first.start_machine == second.start_machine == "mk4"


def test_a_refused_file_lists_every_reason_and_nothing_is_kept(login, student, printer, settings):
    printer(materials=("PETG",), volume=(100, 100, 100))
    bad = gcode(size_xyz=(150.0, 50.0, 10.0), material="PLA", extra="M500")
    response = _post(login(student), ("bad.gcode", bad))
    assert response.status_code == 400
    text = _text(response)
    assert "The job was not accepted" in text and "Not accepted bad.gcode" in text
    assert "line 16: M500 is not allowed in lab prints" in text
    assert "mk4: PLA is not loaded (loaded: PETG)" in text
    assert "mk4: the print spans X 20.0…170.0 mm, outside the build volume 0…100 mm" in text
    assert "Estimated print time 1 h 02 min" in text  # what could be read is still shown
    assert 'name="preview"' not in response.content.decode()  # nothing to confirm
    assert Job.objects.count() == 0 and StagedUpload.objects.count() == 0
    assert _stored_files(settings) == []
    assert JobEvent.objects.count() == 0


def test_a_file_that_is_not_gcode_is_refused(login, student, printer, settings):
    printer()
    response = _post(login(student), ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(200)))
    assert response.status_code == 400
    assert "'photo.png' is not a G-code file" in _text(response)
    assert StagedUpload.objects.count() == 0 and _stored_files(settings) == []


def test_a_batch_keeps_the_good_files_and_says_what_is_wrong_with_each_other(
    login, student, printer, settings, django_capture_on_commit_callbacks
):
    printer()
    settings.JOBS_MAX_UPLOAD_BYTES = 4000
    client = login(student)
    response = _post(
        client,
        ("gear.gcode", gcode()),
        ("notes.txt", b"not a print"),
        ("huge.gcode", gcode() + b"; padding\n" * 400),
        ("hinge.gcode", gcode(size_xyz=(20.0, 20.0, 5.0))),
        ("too-wide.gcode", gcode(size_xyz=(400.0, 20.0, 5.0))),
    )
    assert response.status_code == 200
    text = _text(response)
    assert "Not accepted notes.txt 'notes.txt' is not a G-code file" in text
    assert "Not accepted huge.gcode the file is larger than the upload limit of 3.9 KiB" in text
    assert "Not accepted too-wide.gcode mk4: the print spans X 20.0…420.0 mm" in text
    assert "Ready to confirm gear.gcode" in text and "Ready to confirm hinge.gcode" in text
    gear, hinge = StagedUpload.objects.order_by("created_at")
    assert (gear.original_name, hinge.original_name) == ("gear.gcode", "hinge.gcode")
    assert len(_stored_files(settings, "staged")) == 2
    assert (
        'id="confirm-all"' in response.content.decode() and "Confirm all <span" in response.content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert _confirm(client, gear, hinge).status_code == 303
    jobs = list(Job.objects.order_by("position"))
    assert [job.original_name for job in jobs] == ["gear.gcode", "hinge.gcode"]
    assert jobs[0].batch_id is not None and jobs[0].batch_id == jobs[1].batch_id
    assert StagedUpload.objects.count() == 0 and _stored_files(settings, "staged") == []
    assert "2 jobs were submitted and are in the queue: gear.gcode, hinge.gcode." in _text(
        client.get("/jobs/")
    )


def test_the_upload_script_gets_just_the_new_rows(login, student, printer):
    printer()
    client = login(student)
    _post(client, ("first.gcode", gcode()))
    xhr = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
    good = _post(client, ("second.gcode", gcode()), extra=xhr)
    assert good.status_code == 200
    body = good.content.decode()
    assert "<html" not in body and body.count("data-preview-row") == 1
    assert "second.gcode" in body and "first.gcode" not in body
    bad = _post(client, ("third.gcode", gcode(extra="M997")), extra=xhr)
    assert bad.status_code == 400 and "line 16: M997 is not allowed in lab prints" in _text(bad)
    form_error = _post(client, ("fourth.gcode", gcode()), nozzle_diameter="x", extra=xhr)
    assert form_error.status_code == 400
    assert "Please correct the form. Nozzle diameter (mm): Enter a number." in _text(form_error)
    assert StagedUpload.objects.count() == 2


def test_cancel_deletes_the_preview_and_its_file(
    login, student, printer, settings, django_capture_on_commit_callbacks
):
    printer()
    client = login(student)
    _post(client, ("a.gcode", gcode()), ("b.gcode", gcode()))
    a, b = StagedUpload.objects.order_by("created_at")
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(client, f"/jobs/submit/{a.pk}/cancel/")
    assert response.status_code == 303 and response.url == "/jobs/submit/"
    assert list(StagedUpload.objects.all()) == [b]
    assert _stored_files(settings, "staged") == [Path(settings.MEDIA_ROOT) / f"staged/{b.pk}.gcode"]
    with django_capture_on_commit_callbacks(execute=True):
        script = csrf_post(client, f"/jobs/submit/{b.pk}/cancel/", HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert script.status_code == 204 and _stored_files(settings) == []
    assert csrf_post(client, f"/jobs/submit/{b.pk}/cancel/").status_code == 404  # already gone
    assert Job.objects.count() == 0


def test_another_student_cannot_see_confirm_or_cancel_my_preview(
    login, student, other_student, staff, printer
):
    printer()
    mine = login(student)
    _post(mine, ("secret.gcode", with_thumbnail(gcode())))
    staged = StagedUpload.objects.get()
    assert mine.get(f"/jobs/submit/{staged.pk}/thumbnail/").status_code == 200
    for intruder in (other_student, staff):
        client = login(intruder)
        assert "secret.gcode" not in client.get("/jobs/submit/").content.decode()
        assert _confirm(client, staged).status_code == 404
        assert csrf_post(client, f"/jobs/submit/{staged.pk}/cancel/").status_code == 404
        assert client.get(f"/jobs/submit/{staged.pk}/thumbnail/").status_code == 404
    assert StagedUpload.objects.count() == 1 and Job.objects.count() == 0
    # Confirming mine together with an id that is not mine confirms nothing.
    assert (
        csrf_post(mine, "/jobs/submit/confirm/", {"preview": [str(staged.pk), str(Job().pk)]}).status_code
        == 404
    )
    assert csrf_post(mine, "/jobs/submit/confirm/", {"preview": ["not-a-uuid"]}).status_code == 404
    assert csrf_post(mine, "/jobs/submit/confirm/").status_code == 400  # nothing chosen
    assert Job.objects.count() == 0


def test_the_preview_shows_the_slicers_picture(login, student, printer):
    printer()
    client = login(student)
    response = _post(client, ("pictured.gcode", with_thumbnail(gcode())))
    staged = StagedUpload.objects.get()
    assert f'src="/jobs/submit/{staged.pk}/thumbnail/" alt="Slicer preview of pictured.gcode"' in (
        response.content.decode()
    )
    picture = client.get(f"/jobs/submit/{staged.pk}/thumbnail/")
    assert picture["Content-Type"] == "image/png" and b"".join(picture.streaming_content).startswith(
        b"\x89PNG"
    )
    _confirm(client, staged)
    job = Job.objects.get()
    assert job.thumbnail and client.get(f"/jobs/{job.pk}/thumbnail/").status_code == 200
    assert client.get(f"/jobs/submit/{staged.pk}/thumbnail/").status_code == 404


def test_confirming_twice_makes_one_job(login, student, printer):
    printer()
    client = login(student)
    _post(client)
    staged = StagedUpload.objects.get()
    assert _confirm(client, staged).status_code == 303
    assert _confirm(client, staged).status_code == 404
    assert Job.objects.count() == 1


def test_confirm_checks_again_and_keeps_the_preview_when_the_lab_changed(login, student, printer, settings):
    printer()
    client = login(student)
    _post(client)
    staged = StagedUpload.objects.get()
    MachineConfig.objects.update(active=False)  # the only printer is retired meanwhile
    response = _confirm(client, staged)
    assert response.status_code == 400
    text = _text(response)
    assert "The job was not accepted." in text
    assert "Not confirmed: the lab has no active machine of type 'printer-3d'" in text
    assert Job.objects.count() == 0 and list(StagedUpload.objects.all()) == [staged]
    assert len(_stored_files(settings, "staged")) == 1
    assert JobEvent.objects.count() == 0
    assert Event.objects.filter(type="job.refused").count() == 1  # the refusal is recorded once


def test_a_single_file_over_the_limit_is_refused_without_storing_it(login, student, printer, settings):
    printer()
    settings.JOBS_MAX_UPLOAD_BYTES = 2000
    response = _post(login(student), ("big.gcode", gcode() + b"; padding\n" * 400))
    assert response.status_code == 400
    assert "the file is larger than the upload limit of 2 KiB" in _text(response)
    assert StagedUpload.objects.count() == 0 and _stored_files(settings) == []


def test_form_errors_are_shown_per_field(login, student, printer):
    printer()
    response = csrf_post(
        login(student), "/jobs/submit/", {"machine_type": "printer-3d", "nozzle_diameter": "x"}
    )
    assert response.status_code == 400
    text = _text(response)
    assert "This field is required." in text and "Enter a number." in text
    assert StagedUpload.objects.count() == 0


def test_students_choose_no_queue_place_or_priority(login, student, printer):
    """The page has no priority or position: every student job goes to the back of the queue."""
    printer()
    client = login(student)
    _post(client, ("a.gcode", gcode()))
    _post(client, ("b.gcode", gcode()), priority="50", pos="front")
    _confirm(client, *StagedUpload.objects.order_by("created_at"))
    first, second = Job.objects.order_by("position")
    assert (first.original_name, second.original_name) == ("a.gcode", "b.gcode")
    assert second.priority == 0


def test_previews_count_against_the_quota(login, student, printer):
    printer()
    quota_create(user=student, max_grams=5)
    client = login(student)
    assert _post(client, ("a.gcode", gcode())).status_code == 200  # 3.7 g, not yet a job
    refused = _post(client, ("b.gcode", gcode()))
    assert refused.status_code == 400
    assert "quota: the job needs 4 g of filament, 1 g of 5 g left this week (your quota)" in _text(refused)
