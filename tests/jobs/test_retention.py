"""Finished jobs' G-code is deleted after the retention period; the job and its history stay."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs.models import Job
from jobs.services import job_request_cancel
from jobs.services.retention import job_files_purge, job_files_sweep_orphans

pytestmark = pytest.mark.django_db


def finished(job: Job, *, days_ago: float) -> Job:
    job_request_cancel(job=job.pk)
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - dt.timedelta(days=days_ago))
    return Job.objects.get(pk=job.pk)


def test_old_finished_jobs_lose_their_file_and_keep_their_history(submit, student, settings):
    settings.JOBS_FILE_RETENTION_DAYS = 30
    old = finished(submit(student, name="old"), days_ago=31)
    recent = finished(submit(student, name="recent"), days_ago=29)
    waiting = submit(student, name="waiting")
    old_name = old.file.name
    assert default_storage.exists(old_name)

    assert job_files_purge() == 1
    old.refresh_from_db()
    assert not default_storage.exists(old_name)
    assert old.file.name == "" and "file_purged_at" in old.metadata
    assert old.state == "cancelled" and old.events.count() >= 2  # the history stays
    for job in (recent, waiting):
        job.refresh_from_db()
        assert default_storage.exists(job.file.name), job.name
    assert job_files_purge() == 0  # nothing left to do: a second run changes nothing


def test_a_file_already_missing_from_storage_is_no_error(submit, student, settings):
    settings.JOBS_FILE_RETENTION_DAYS = 1
    job = finished(submit(student, name="gone"), days_ago=2)
    default_storage.delete(job.file.name)
    assert job_files_purge() == 1
    job.refresh_from_db()
    assert job.file.name == ""


def _age(name: str, *, hours: float) -> None:
    path = default_storage.path(name)
    then = (timezone.now() - dt.timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


def test_files_no_job_names_are_swept_after_the_grace_period(submit, student):
    """A web process killed between storing an upload and its commit leaves a file without a job."""
    kept = submit(student, name="kept")
    _age(kept.file.name, hours=5)
    orphan = default_storage.save(f"jobs/2026/12/{uuid.uuid4()}.gcode", ContentFile(b"G28\n"))
    orphan_thumb = default_storage.save(orphan.replace(".gcode", ".thumb.png"), ContentFile(b"png"))
    young = default_storage.save(f"jobs/2026/12/{uuid.uuid4()}.gcode", ContentFile(b"G28\n"))
    not_ours = default_storage.save("jobs/2026/12/README.txt", ContentFile(b"staff notes"))
    for name in (orphan, orphan_thumb, not_ours):
        _age(name, hours=2)

    assert sorted(job_files_sweep_orphans()) == sorted([orphan, orphan_thumb])
    assert not default_storage.exists(orphan) and not default_storage.exists(orphan_thumb)
    # The job's own file, a file young enough to belong to a submission in flight, and a file not
    # named like a job's all stay.
    assert default_storage.exists(kept.file.name)
    assert default_storage.exists(young) and default_storage.exists(not_ours)
    assert job_files_sweep_orphans() == []


def test_a_submission_that_fails_at_the_commit_leaves_no_file(submit, student, monkeypatch):
    from jobs.services import submit as submit_module

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(submit_module, "bump_versions", broken)
    before = set(_files())
    with pytest.raises(RuntimeError):
        submit(student, name="lost")
    assert set(_files()) == before
    assert not Job.objects.filter(name="lost").exists()


def _files() -> list[str]:
    from jobs.services.retention import _walk

    return list(_walk(default_storage, "jobs"))
