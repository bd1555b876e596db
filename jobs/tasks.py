"""Task entry points (Celery or django-q). Thin: load by id, call a service. Each is safe to run twice."""

from __future__ import annotations

import logging

from jobs.forecast_store import forecast_refresh_tick
from jobs.services.control import job_control as control_service
from jobs.services.control import pending_requests
from jobs.services.dispatch import job_dispatch as dispatch_service
from jobs.services.reconciler import reconcile_sweep as reconcile_sweep_service
from jobs.services.retention import job_files_purge as job_files_purge_service
from jobs.services.retention import job_files_sweep_orphans as job_files_sweep_orphans_service
from jobs.services.scheduler import schedule_run, scheduler_run_started, stale_dispatches
from jobs.services.staging import staged_uploads_purge as staged_uploads_purge_service
from mes.engine import enqueue, task

logger = logging.getLogger(__name__)


@task
def scheduler_run() -> int:
    """Dispatch what can be dispatched; re-send dispatches and control requests that got stuck."""
    scheduler_run_started()
    dispatched = schedule_run()
    for job in stale_dispatches():
        enqueue("jobs.tasks.job_dispatch", str(job.pk))
    for job_id, action in pending_requests():
        enqueue("jobs.tasks.job_control", job_id, action)
    return len(dispatched)


@task
def job_dispatch(job_id: str) -> str:
    outcome = dispatch_service(job_id=job_id)
    logger.info("dispatch %s: %s %s", job_id, outcome.result, outcome.detail)
    return outcome.result


@task
def job_control(job_id: str, action: str) -> str:
    outcome = control_service(job_id=job_id, action=action)
    logger.info("control %s %s: %s %s", action, job_id, outcome.result, outcome.detail)
    return outcome.result


@task
def reconcile_sweep() -> int:
    return reconcile_sweep_service()


@task
def job_files_purge() -> int:
    """Hourly: delete the G-code of jobs finished longer ago than JOBS_FILE_RETENTION_DAYS, and files
    no job names (a submission killed before its commit)."""
    job_files_sweep_orphans_service()
    return job_files_purge_service()


@task
def forecast_refresh() -> float:
    """Recompute the stored ETA forecast if a change asked for it since the last tick, or every minute;
    returns what computing it cost (0.0: nothing to do)."""
    stored = forecast_refresh_tick()
    return 0.0 if stored is None else stored.seconds


@task
def staged_uploads_purge() -> int:
    """Every 15 minutes: delete submit-page previews never confirmed within JOBS_PREVIEW_HOURS."""
    return staged_uploads_purge_service()
