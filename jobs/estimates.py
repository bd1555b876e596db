"""When will a job start and finish? Estimates for the "my jobs" page, the job page, the API and the board.

A printing job finishes at now + its time left (the printer's own "time left" when it reports one,
else the file's estimate scaled by the job's progress). A waiting job's start and finish come from
``jobs.forecast``: the queue simulated forward over the machines, their current jobs, the lab's
opening hours and the constraints (fit, material, training, quotas). A file that states no estimate
counts as ``DEFAULT_JOB_SECONDS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from jobs.models import Job
from jobs.states import ACTIVE_STATES, QUEUE_STATES
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
    machines: int = 0  # waiting jobs: machines that could take the job
    machine_name: str = ""  # waiting jobs: the machine the forecast puts it on
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
    asked_now, now = now, now or timezone.now()
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

    forecast = _forecast(now=None if asked_now is None else now)
    for job in waiting:
        item = forecast.get(job.pk)
        if item is None:
            result[job.pk] = Estimate(note="too far back in the queue to estimate")
        elif item.start is None:
            result[job.pk] = Estimate(machines=item.machines, note=item.note)
        else:
            result[job.pk] = Estimate(
                start=item.start,
                finish=item.finish,
                machines=item.machines,
                wait_seconds=(item.start - now).total_seconds(),
                machine_name=item.machine_name,
                note=item.note,
            )
    return result


def _forecast(*, now: datetime | None) -> dict:
    """The queue forecast; without an explicit ``now`` the stored one (``jobs.forecast_store``:
    recomputed when the queue or a machine changes, read here in one query and one cache read)."""
    from jobs.forecast import queue_forecast  # inside: it reads this module's time-left helpers (cycle)
    from jobs.forecast_store import forecast_latest  # inside: it reads this module's helpers too (cycle)

    if now is not None:
        return queue_forecast(now=now)
    return forecast_latest()
