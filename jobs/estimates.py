"""When will a job start and finish? A deliberately simple estimate for the "my jobs" page.

For a waiting job J with compatible machines M (active, of J's type, pre-flight fit; the named machine
only, when J targets one):

    start(J)  = now + (busy(M) + ahead(J)) / |M|
    finish(J) = start(J) + own(J)

* ``busy(M)``: the time left of the jobs the machines in M are printing now (the printer's own
  "time left" when it reports one, else the file's estimate scaled by the job's progress).
* ``ahead(J)``: the sum of the G-code estimated times of the waiting jobs of the same machine type ahead
  of J in queue order (whatever machine they will end up on).
* ``own(J)``: J's own G-code estimate.

A file that states no estimate counts as ``DEFAULT_JOB_SECONDS``. The estimate ignores heating limits,
bed clearing, the queue being stopped and jobs ahead that only fit machines J cannot use: it is a guide
for students, not a schedule. A printing job's finish is now + its time left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from jobs.models import Job
from jobs.preflight import MachineCapabilities, machine_fit_reasons
from jobs.selectors import QUEUE_ORDER, job_constraints, machine_capabilities_for, queue_jobs
from jobs.states import ACTIVE_STATES, QUEUE_STATES, JobState
from machines.selectors import machine_list, machine_live_states
from machines.state import LiveState

DEFAULT_JOB_SECONDS = 3600.0


@dataclass(frozen=True)
class Estimate:
    start: datetime | None = None
    finish: datetime | None = None
    seconds_left: float | None = None  # printing jobs: time until the print ends
    progress: float | None = None  # printing jobs: 0-100, from the job or else the printer's report
    wait_seconds: float | None = None  # waiting jobs: time until the estimated start
    machines: int = 0  # compatible machines the waiting time was shared across
    note: str = ""

    @property
    def time_left(self) -> str:
        return format_duration(self.seconds_left)


def format_duration(seconds: float | None) -> str:
    """Like "1 h 05 min", "12 min" or "40 s"; empty for unknown."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _own_seconds(estimate: float | int | None) -> float:
    try:
        value = float(estimate) if estimate is not None else None
    except (TypeError, ValueError):
        value = None
    return value if value and value > 0 else DEFAULT_JOB_SECONDS


def printer_job(state: LiveState | None) -> dict:
    """The job the printer reports (file_name, progress, time_left, time_used), or an empty dict."""
    if state is None:
        return {}
    return dict((state.data.get("printer_state") or {}).get("job") or {})


def remaining_seconds(*, estimate: float | None, progress: float | None, state: LiveState | None) -> float:
    """Time left of a job on a machine: the printer's figure when it gives one, else the file's estimate."""
    reported = printer_job(state).get("time_left")
    if reported is not None:
        return max(0.0, float(reported))
    done = min(max(float(progress or 0.0), 0.0), 100.0) / 100.0
    return _own_seconds(estimate) * (1.0 - done)


def job_estimates(*, jobs: Iterable[Job], now: datetime | None = None) -> dict[uuid.UUID, Estimate]:
    """Estimates for the given jobs (waiting and active ones; others are left out).

    A constant number of queries however many jobs are passed: machines, their capabilities, the
    active jobs, the waiting jobs up to the last one asked about, and one cache read for live states.
    """
    now = now or timezone.now()
    jobs = list(jobs)
    waiting = [j for j in jobs if j.state in QUEUE_STATES and j.position is not None]
    active = [j for j in jobs if j.state in ACTIVE_STATES]
    if not waiting and not active:
        return {}
    machines = list(machine_list().filter(active=True))
    states = machine_live_states(machines)
    result: dict[uuid.UUID, Estimate] = {}
    for job in active:
        state = states.get(str(job.machine_id)) if job.machine_id else None
        progress = job.progress if job.progress is not None else printer_job(state).get("progress")
        left = remaining_seconds(
            estimate=(job.metadata or {}).get("estimated_time_s"), progress=progress, state=state
        )
        result[job.pk] = Estimate(
            start=job.started_at,
            finish=now + timedelta(seconds=left),
            seconds_left=left,
            progress=progress,
        )
    if not waiting:
        return result

    caps = machine_capabilities_for(machines=machines)
    busy: dict[str, float] = {}
    rows = Job.objects.filter(state__in=ACTIVE_STATES, machine__isnull=False).values_list(
        "machine_id", "progress", "metadata__estimated_time_s"
    )
    for machine_id, progress, estimate in rows:
        key = str(machine_id)
        busy[key] = busy.get(key, 0.0) + remaining_seconds(
            estimate=estimate, progress=progress, state=states.get(key)
        )

    # The waiting jobs in queue order, up to the last of the ones asked about.
    last = min(waiting, key=lambda j: (j.priority, -j.position))
    types = {j.machine_type for j in waiting}
    ahead_rows = (
        queue_jobs()
        .filter(machine_type__in=types)
        .filter(Q(priority__gt=last.priority) | Q(priority=last.priority, position__lte=last.position))
        .order_by(*QUEUE_ORDER)
        .values_list("pk", "machine_type", "metadata__estimated_time_s")
    )
    ahead: dict[uuid.UUID, float] = {}
    total: dict[str, float] = {}
    for pk, machine_type, estimate in ahead_rows:
        ahead[pk] = total.get(machine_type, 0.0)
        total[machine_type] = ahead[pk] + _own_seconds(estimate)

    for job in waiting:
        fitting = _fitting(job, caps)
        if not fitting:
            result[job.pk] = Estimate(note="no active machine fits this job right now")
            continue
        wait = (sum(busy.get(c.machine_id, 0.0) for c in fitting) + ahead.get(job.pk, 0.0)) / len(fitting)
        start = now + timedelta(seconds=wait)
        own = _own_seconds((job.metadata or {}).get("estimated_time_s"))
        result[job.pk] = Estimate(
            start=start,
            finish=start + timedelta(seconds=own),
            machines=len(fitting),
            wait_seconds=wait,
            note="after staff approval" if job.state == JobState.AWAITING_APPROVAL else "",
        )
    return result


def _fitting(job: Job, caps: list[MachineCapabilities]) -> list[MachineCapabilities]:
    constraints = job_constraints(job=job)
    return [
        c
        for c in caps
        if (not constraints.target_machine_id or c.machine_id == constraints.target_machine_id)
        and not machine_fit_reasons(c, metadata=job.metadata or {}, constraints=constraints)
    ]
