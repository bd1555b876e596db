"""Clean-up of what finished jobs leave behind: their G-code files, after a retention period.

The job rows and their events stay (they are the lab's history and statistics); only the file is
deleted, and the job says so (``file`` empty, ``metadata["file_purged_at"]``).
"""

from __future__ import annotations

import datetime as dt
import logging

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
