"""Clean-up of what finished jobs leave behind: their G-code files, after a retention period.

The job rows and their events stay (they are the lab's history and statistics); only the file is
deleted, and the job says so (``file`` empty, ``metadata["file_purged_at"]``).
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import re
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from jobs.states import TERMINAL_STATES

logger = logging.getLogger(__name__)


def job_files_purge(*, older_than: dt.timedelta | None = None, limit: int = 500) -> int:
    """Delete the G-code of jobs that finished more than ``older_than`` ago; returns how many.

    Works in slices of ``limit`` so a first run on a large history does not hold one long transaction.
    """
    if older_than is None:
        older_than = dt.timedelta(days=settings.JOBS_FILE_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    jobs = (
        Job.objects.filter(state__in=TERMINAL_STATES, finished_at__lt=cutoff)
        .exclude(file="")
        .order_by("finished_at")[:limit]
    )
    purged = 0
    for job in jobs:
        name = job.file.name
        job.file.delete(save=False)  # a file already gone from storage is not an error
        metadata = {**(job.metadata or {}), "file_purged_at": timezone.now().isoformat()}
        Job.objects.filter(pk=job.pk).update(file="", metadata=metadata)
        logger.info("purged %s of job %s (finished %s)", name, job.pk, job.finished_at)
        purged += 1
    return purged


ORPHAN_GRACE = dt.timedelta(hours=1)
_JOB_FILE = re.compile(
    r"^(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\.thumb)?\.\w+$"
)


def job_files_sweep_orphans(*, older_than: dt.timedelta = ORPHAN_GRACE) -> list[str]:
    """Delete job files no job names, left by a process killed between storing them and its commit.

    Only files named like a job's (``jobs/<year>/<month>/<job id>[.thumb].<ext>``) and older than
    ``older_than`` are candidates: a submission in flight stores its files a moment before it commits,
    so a young file may belong to a row about to appear. Returns the names deleted.
    """
    storage = Job.file.field.storage
    cutoff = timezone.now() - older_than
    candidates: dict[uuid.UUID, list[str]] = {}
    for name in _walk(storage, "jobs"):
        match = _JOB_FILE.match(posixpath.basename(name))
        if match and storage.get_modified_time(name) <= cutoff:
            candidates.setdefault(uuid.UUID(match["id"]), []).append(name)
    known = set(Job.objects.filter(pk__in=candidates).values_list("pk", flat=True))
    deleted = []
    for job_id, names in candidates.items():
        if job_id in known:
            continue
        for name in names:
            storage.delete(name)
            logger.warning(
                "deleted %s: no job %s names it (a submission cut off before its commit)", name, job_id
            )
            deleted.append(name)
    return deleted


def _walk(storage, directory: str) -> Iterator[str]:
    if not storage.exists(directory):
        return
    directories, files = storage.listdir(directory)
    for name in files:
        yield posixpath.join(directory, name)
    for sub in directories:
        yield from _walk(storage, posixpath.join(directory, sub))
