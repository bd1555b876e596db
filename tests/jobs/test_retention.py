"""Finished jobs' G-code is deleted after the retention period; the job and its history stay."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs.models import Job
from jobs.services import job_request_cancel
from jobs.services.retention import job_files_purge

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
