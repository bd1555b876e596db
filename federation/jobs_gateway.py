"""The one module through which federation reaches the jobs app.

Federation sits above jobs (tests/test_layers.py): it may use jobs, jobs never imports federation and
learns about partner labs only through its own signals (``job_remote_runs``, ``job_remote_cancel``).
Every job read or write federation makes goes through the names below, so the part of the jobs app
that the lab-to-lab protocol depends on is visible in one place; the layering test refuses a
``jobs`` import anywhere else in federation.
"""

from __future__ import annotations

from jobs import signals as job_signals
from jobs.exceptions import JobError
from jobs.gcode import NotGcode, inspect_gcode
from jobs.models import Job
from jobs.preflight import JobConstraints
from jobs.remote import RemoteRun
from jobs.selectors import queue_jobs
from jobs.services import JobSpec, job_request_cancel, job_submit, job_transition
from jobs.states import ActorKind, JobState

__all__ = [
    "ActorKind",
    "Job",
    "JobConstraints",
    "JobError",
    "JobSpec",
    "JobState",
    "NotGcode",
    "RemoteRun",
    "inspect_gcode",
    "job_request_cancel",
    "job_signals",
    "job_submit",
    "job_transition",
    "queue_jobs",
]
