"""Checked uploads waiting for "Confirm": the periodic clean-up of those never confirmed (and of files no
preview names), and the API's pre-flight, which answers the same findings without keeping anything."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs.models import Job, StagedUpload
from jobs.services import JobSpec
from jobs.services.staging import staged_uploads_create, staged_uploads_purge
from jobs.tasks import staged_uploads_purge as purge_task
from mes.engine import schedule
from tests.jobs.conftest import gcode, make_machine
from tests.jobs.thumbnail_samples import with_thumbnail

pytestmark = pytest.mark.django_db


def _files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _stage(user, name: str, content: bytes | None = None) -> StagedUpload:
    spec = JobSpec(file=SimpleUploadedFile(name, content or with_thumbnail(gcode())))
    [outcome] = staged_uploads_create(user=user, specs=[spec])
    assert outcome.staged is not None, outcome.reasons
    return outcome.staged


def _age(path: Path, hours: float) -> None:
    then = (timezone.now() - dt.timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


def test_previews_never_confirmed_are_deleted_with_their_files(student, machine, settings):
    settings.JOBS_PREVIEW_HOURS = 24
    old, young = _stage(student, "old.gcode"), _stage(student, "young.gcode")
    StagedUpload.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert _files(settings) == sorted(
        [
            f"staged/{old.pk}.gcode",
            f"staged/{old.pk}.thumb.png",
            f"staged/{young.pk}.gcode",
            f"staged/{young.pk}.thumb.png",
        ]
    )
    assert purge_task() == 1
    assert list(StagedUpload.objects.all()) == [young]
    assert _files(settings) == [f"staged/{young.pk}.gcode", f"staged/{young.pk}.thumb.png"]
    assert staged_uploads_purge() == 0  # nothing more to do


def test_files_no_preview_names_go_once_they_are_old(student, machine, settings):
    """A process killed between storing the file and saving its row leaves a stray file."""
    settings.JOBS_PREVIEW_HOURS = 24
    kept = _stage(student, "kept.gcode")
    staged = Path(settings.MEDIA_ROOT) / "staged"
    stray_old, stray_young = staged / "0c1f-old.gcode", staged / "0c1f-young.gcode"
    stray_old.write_bytes(b"G28\n")
    stray_young.write_bytes(b"G28\n")
    _age(stray_old, 30)
    _age(staged / f"{kept.pk}.gcode", 30)  # an old file whose preview still exists stays (its row decides)
    assert staged_uploads_purge() == 1
    assert not stray_old.exists() and stray_young.exists()
    assert (staged / f"{kept.pk}.gcode").exists() and StagedUpload.objects.count() == 1


def test_the_clean_up_runs_on_the_periodic_schedule():
    entry = next(e for e in schedule().entries() if e.task == "jobs.tasks.staged_uploads_purge")
    assert entry.seconds <= 3600


def test_the_api_preflight_answers_the_findings_and_keeps_nothing(api, student, settings):
    make_machine("mk4")
    make_machine("mini", volume=(50, 50, 50))
    response = api(student).post(
        "/api/jobs/preflight/",
        {"file": SimpleUploadedFile("bracket.gcode", with_thumbnail(gcode())), "material": "PLA"},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["accepted"] is True and body["reasons"] == []
    assert body["file_name"] == "bracket.gcode" and body["estimated_time_s"] == 3723
    assert body["filament_grams"] == 3.7 and body["filament_metres"] == 1.23
    assert body["filament"] == [{"tool": 0, "material": "PLA", "grams": 3.7, "metres": 1.23}]
    assert body["machines"] == ["mk4"]
    assert body["unfit_machines"] == [
        {
            "name": "mini",
            "reasons": [
                "the print spans X 20.0…70.0 mm, outside the build volume 0…50 mm",
                "the print spans Y 20.0…70.0 mm, outside the build volume 0…50 mm",
            ],
        }
    ]
    assert body["thumbnail"]["format"] == "png" and body["thumbnail"]["width"] == 16
    assert body["earliest_start"] is not None and body["start_machine"] == "mk4"
    assert Job.objects.count() == 0 and StagedUpload.objects.count() == 0
    assert _files(settings) == []


def test_the_api_preflight_of_a_refused_file_says_why_with_200(api, student, settings):
    make_machine("mk4", materials="PETG")
    response = api(student).post(
        "/api/jobs/preflight/",
        {"file": SimpleUploadedFile("part.gcode", gcode(extra="M997"))},
        format="multipart",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] is False and body["earliest_start"] is None
    assert "line 16: M997 is not allowed in lab prints" in body["reasons"]
    assert "mk4: PLA is not loaded (loaded: PETG)" in body["reasons"]
    assert body["estimated_time_s"] == 3723  # what could be read is still answered
    assert _files(settings) == []


def test_the_api_preflight_needs_a_file_a_login_and_respects_the_limit(api, student, settings):
    make_machine("mk4")
    assert api().post("/api/jobs/preflight/", {}, format="multipart").status_code in (401, 403)
    missing = api(student).post("/api/jobs/preflight/", {}, format="multipart")
    assert missing.status_code == 400 and "file" in str(missing.json())
    settings.JOBS_MAX_UPLOAD_BYTES = 1000
    big = api(student).post(
        "/api/jobs/preflight/", {"file": SimpleUploadedFile("big.gcode", gcode() * 10)}, format="multipart"
    )
    assert big.status_code == 413


@pytest.mark.parametrize("path", ["/api/jobs/preflight/", "/api/jobs/"])
def test_a_field_sent_twice_is_refused_not_half_read(api, student, path):
    make_machine("mk4")
    response = api(student).post(
        path,
        {"file": SimpleUploadedFile("part.gcode", gcode()), "priority": ["1", "2"]},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["priority"] == ["send one value, not 2"], response.json()
    assert Job.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/jobs/preflight/", "/api/jobs/"])
def test_a_field_the_form_does_not_have_is_named_in_the_error(api, student, path):
    make_machine("mk4")
    response = api(student).post(
        path, {"file": SimpleUploadedFile("part.gcode", gcode()), "priorty": "1"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["priorty"][0].startswith("not a field of this form (its fields: name,")
    assert Job.objects.count() == 0


def test_the_preflight_is_in_the_schema(api, staff):
    schema = api(staff).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/jobs/preflight/"]["post"]
    assert "200" in operation["responses"] and "413" in operation["responses"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
