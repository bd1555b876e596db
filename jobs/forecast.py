"""The queue simulated forward: when will each waiting job start and finish, on which machine?

``queue_forecast(now=…)`` plays the scheduler (``jobs.services.scheduler``) forward in time, event by
event, on a copy of the lab:

* every active machine not in maintenance is free when its current job ends (the printer's "time
  left", else the file's estimate scaled by progress), or now when it holds none;
* at each event (a print ends, the lab opens) one scheduler run is played: priority first, then the
  configured fair-share policy (``JOBS_FAIR_SHARE_POLICY``) picks whose job is tried next; the job goes
  to the first free machine (by name) that fits it (type, material, nozzle, volume, temperatures,
  tags, named machine), whose training its owner holds, and — when the machine is attended-only —
  where it would end before closing minus the margin; its length is the G-code estimate times the
  machine's measured speed factor (``jobs.policy``);
* a job beyond its owner's quota, or that no machine can take, gets no times but a note.

A job a staff member must still approve is placed as if approved ("after staff approval"). The
forecast ignores the heating limit, the time to clear a bed and failures: it is what happens if every
print goes as estimated. ``FORECAST_MAX_JOBS`` bounds the work per call (a page, the board).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from jobs.estimates import remaining_seconds
from jobs.fairshare import fair_share_policy
from jobs.models import Job
from jobs.policy import JobPolicies, job_policies
from jobs.preflight import MachineCapabilities, machine_fit_reasons
from jobs.selectors import job_constraints, machine_capabilities_for, queue_jobs
from jobs.states import ACTIVE_STATES, JobState
from machines.selectors import machine_list, machine_live_states

FORECAST_MAX_JOBS = 500


@dataclass(frozen=True)
class Forecast:
    start: datetime | None = None
    finish: datetime | None = None
    machine_id: str = ""
    machine_name: str = ""
    machines: int = 0  # machines that could take the job
    note: str = ""


def queue_forecast(
    *, now: datetime | None = None, limit: int = FORECAST_MAX_JOBS, extra: list[Job] = ()
) -> dict[uuid.UUID, Forecast]:
    """Forecasts for the first ``limit`` waiting jobs, by job id (a fixed number of queries).

    ``extra``: unsaved jobs put at the back of the queue in this order, for the submit page's preview
    (when would this file start if it were confirmed now?)."""
    now = now or timezone.now()
    waiting = [*queue_jobs()[:limit], *extra]
    if not waiting:
        return {}
    machines = list(machine_list().filter(active=True).order_by("name"))
    states = machine_live_states(machines)
    caps = machine_capabilities_for(machines=machines)
    busy: dict[str, tuple[datetime, object]] = {}
    for machine_id, owner_id, progress, metadata in Job.objects.filter(
        state__in=ACTIVE_STATES, machine__isnull=False
    ).values_list("machine_id", "owner_id", "progress", "metadata"):
        key = str(machine_id)
        left = remaining_seconds(
            estimate=(metadata or {}).get("estimated_time_s"), progress=progress, state=states.get(key)
        )
        busy[key] = (now + timedelta(seconds=left), owner_id)
    policies = job_policies(jobs=waiting, now=now, with_speed=True)
    return simulate(
        jobs=waiting, caps=caps, busy=busy, policies=policies, fair_share=fair_share_policy(waiting), now=now
    )


def simulate(
    *,
    jobs: list[Job],
    caps: list[MachineCapabilities],
    busy: dict[str, tuple[datetime, object]],
    policies: JobPolicies,
    fair_share,
    now: datetime,
    max_events: int = 5000,
) -> dict[uuid.UUID, Forecast]:
    """Play scheduler runs at each event time until every job is placed or nothing can change.

    ``jobs``: the waiting jobs in queue order; ``busy``: machine id → (end of its print, owner).
    """
    result: dict[uuid.UUID, Forecast] = {}
    order = {job.pk: index for index, job in enumerate(jobs)}
    usable = sorted((c for c in caps if not c.maintenance), key=lambda c: c.name)
    fitting: dict[uuid.UUID, list[MachineCapabilities]] = {}
    pending: list[Job] = []
    for job in jobs:
        constraints = job_constraints(job=job)
        metadata = job.metadata or {}
        fits = [
            c
            for c in usable
            if (not constraints.target_machine_id or c.machine_id == constraints.target_machine_id)
            and not machine_fit_reasons(c, metadata=metadata, constraints=constraints)
        ]
        allowed = [
            c for c in fits if not policies.missing(job, machine_id=c.machine_id, machine_type=c.machine_type)
        ]
        if not fits:
            result[job.pk] = Forecast(note="no active machine fits this job right now")
        elif not allowed:
            result[job.pk] = Forecast(machines=len(fits), note="waits for a training")
        else:
            fitting[job.pk] = allowed
            pending.append(job)
    calendar = policies.snapshot.calendar
    t = now
    for _ in range(max_events):
        if not pending:
            break
        for machine_id, (end, owner) in list(busy.items()):
            if end <= t:
                del busy[machine_id]
                fair_share.finished(owner, None)
        free = {c.machine_id: c for c in usable if c.machine_id not in busy}
        placed = _scheduler_run(t, pending, free, busy, fitting, order, policies, fair_share, result)
        pending = [job for job in pending if job.pk not in placed]
        events = [end for end, _ in busy.values() if end > t]
        if calendar.restricts:  # a job held back by the hours can start when the lab next opens
            interval = calendar.open_interval(t)
            opening = calendar.next_opening(interval[1] if interval else t)
            if opening is not None and opening > t:
                events.append(opening)
        if not events:
            break
        t = min(events)
    for job in pending:
        result.setdefault(job.pk, Forecast(machines=len(fitting[job.pk]), note="no start in sight"))
    return result


def _scheduler_run(t, pending, free, busy, fitting, order, policies, fair_share, result) -> set:
    placed: set = set()
    for priority in sorted({job.priority for job in pending}, reverse=True):
        band: dict = {}
        for job in pending:
            if job.priority == priority:
                band.setdefault(job.owner_id, []).append(job)
        while free and band:
            owner = fair_share.next_owner(band, order)
            queue = band[owner]
            job = queue.pop(0)
            if not queue:
                del band[owner]
            quota = policies.quota_reason(job)
            if quota:
                result[job.pk] = Forecast(machines=len(fitting[job.pk]), note=f"waits: {quota}")
                placed.add(job.pk)
                continue
            machine = next(
                (
                    c
                    for c in fitting[job.pk]
                    if c.machine_id in free
                    and not policies.hours_reason(job, machine_id=c.machine_id, start=t)
                ),
                None,
            )
            if machine is None:
                continue
            finish = t + timedelta(seconds=policies.seconds_on(job, machine.machine_id))
            del free[machine.machine_id]
            busy[machine.machine_id] = (finish, owner)
            fair_share.dispatched(owner, job, at=t)
            policies.dispatched(job)
            placed.add(job.pk)
            result[job.pk] = Forecast(
                start=t,
                finish=finish,
                machine_id=machine.machine_id,
                machine_name=machine.name,
                machines=len(fitting[job.pk]),
                note="after staff approval" if job.state == JobState.AWAITING_APPROVAL else "",
            )
    return placed
