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

A job a staff member must still approve is placed as if approved ("after staff approval"). A bed is
cleared by a person: when the lab keeps opening hours, a print that ends while the lab is closed
frees its machine only at the next opening (and so does a machine awaiting bed clear now). A machine
that reports it cannot work (disconnected, in error) takes no job in the forecast. It ignores the
heating limit and failures: it is what happens if every print goes as estimated.
``FORECAST_MAX_JOBS`` bounds the work per call (a page, the board).

``forecast_run`` also says which machines some waiting job fits and when the forecast has their
current print end (``ForecastRun.watch``): ``jobs.forecast_store`` uses it to tell a machine change
that can move the forecast from one that cannot.
"""

from __future__ import annotations

import json
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
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.selectors import machine_list, machine_live_states
from machines.state import LiveState
from policies.hours import LabCalendar

FORECAST_MAX_JOBS = 500
NOBODY = object()  # the "owner" of a plate left on a bed: no fair-share turn to give back
DOWN_STATUSES = frozenset(
    int(status)
    for status in (
        Printer3DStatus.DISCONNECTED,
        Printer3DStatus.ERROR,
        Printer3DStatus.DRIVER_ERROR,
        Printer3DStatus.UNAUTHORIZED,
    )
)


@dataclass(frozen=True)
class Forecast:
    start: datetime | None = None
    finish: datetime | None = None
    machine_id: str = ""
    machine_name: str = ""
    machines: int = 0  # machines that could take the job
    note: str = ""


@dataclass(frozen=True)
class Watched:
    """A machine some waiting job fits, as the forecast saw it."""

    end: datetime | None  # when its current print ends (before bed clearing); None: it holds none
    estimate: float | None  # that print's G-code estimate, for a time left from its progress
    down: bool  # it reported it cannot work


@dataclass(frozen=True)
class ForecastRun:
    now: datetime
    items: dict[uuid.UUID, Forecast]
    watch: dict[str, Watched]  # machine id -> what the forecast assumed of it


def machine_is_down(state: LiveState | None) -> bool:
    """A fresh report that the machine cannot take work. A machine not polled lately counts as up: the
    forecast does not guess (the scheduler's own checks still apply when the time comes)."""
    return state is not None and not state.stale and state.status in DOWN_STATUSES


def bed_cleared(calendar: LabCalendar, end: datetime) -> datetime:
    """When a machine whose print ends at ``end`` can take the next one: at once while the lab is open,
    else when it next opens (someone must clear the bed)."""
    if not calendar.restricts or calendar.is_open(end):
        return end
    return calendar.next_opening(end) or end


def queue_forecast(
    *, now: datetime | None = None, limit: int = FORECAST_MAX_JOBS, extra: list[Job] = ()
) -> dict[uuid.UUID, Forecast]:
    """Forecasts for the first ``limit`` waiting jobs, by job id (a fixed number of queries).

    ``extra``: unsaved jobs put at the back of the queue in this order, for the submit page's preview
    (when would this file start if it were confirmed now?)."""
    return forecast_run(now=now, limit=limit, extra=extra).items


def forecast_run(
    *, now: datetime | None = None, limit: int = FORECAST_MAX_JOBS, extra: list[Job] = ()
) -> ForecastRun:
    """``queue_forecast`` with what it assumed of the machines (a fixed number of queries)."""
    now = now or timezone.now()
    waiting = [*queue_jobs()[:limit], *extra]
    if not waiting:
        return ForecastRun(now=now, items={}, watch={})
    machines = list(machine_list().filter(active=True).order_by("name"))
    states = machine_live_states(machines)
    caps = machine_capabilities_for(machines=machines)
    busy: dict[str, tuple[datetime, object]] = {}
    printing: dict[str, tuple[datetime, float | None]] = {}
    for machine_id, owner_id, progress, metadata in Job.objects.filter(
        state__in=ACTIVE_STATES, machine__isnull=False
    ).values_list("machine_id", "owner_id", "progress", "metadata"):
        key = str(machine_id)
        estimate = (metadata or {}).get("estimated_time_s")
        left = remaining_seconds(estimate=estimate, progress=progress, state=states.get(key))
        busy[key] = (now + timedelta(seconds=left), owner_id)
        printing[key] = (busy[key][0], estimate)
    for key, state in states.items():  # a plate still on the bed: free once someone clears it
        if key not in busy and state.data.get(BED_CLEAR_REQUIRED):
            busy[key] = (now, NOBODY)
    down = {key for key, state in states.items() if machine_is_down(state)}
    policies = job_policies(jobs=waiting, now=now, with_speed=True)
    fitting: set[str] = set()
    items = simulate(
        jobs=waiting,
        caps=caps,
        busy=busy,
        policies=policies,
        fair_share=fair_share_policy(waiting),
        now=now,
        down=down,
        fitting_out=fitting,
    )
    watch = {
        key: Watched(
            end=printing[key][0] if key in printing else None,
            estimate=printing[key][1] if key in printing else None,
            down=key in down,
        )
        for key in fitting
    }
    return ForecastRun(now=now, items=items, watch=watch)


def simulate(
    *,
    jobs: list[Job],
    caps: list[MachineCapabilities],
    busy: dict[str, tuple[datetime, object]],
    policies: JobPolicies,
    fair_share,
    now: datetime,
    down: set[str] | frozenset[str] = frozenset(),
    fitting_out: set[str] | None = None,
    max_events: int = 5000,
) -> dict[uuid.UUID, Forecast]:
    """Play scheduler runs at each event time until every job is placed or nothing can change.

    ``jobs``: the waiting jobs in queue order; ``busy``: machine id → (end of its print, owner);
    ``down``: machines that reported they cannot work; ``fitting_out`` gets the ids of the machines
    some job fits (down ones included).
    """
    result: dict[uuid.UUID, Forecast] = {}
    order = {job.pk: index for index, job in enumerate(jobs)}
    calendar = policies.snapshot.calendar
    busy = {key: (bed_cleared(calendar, end), owner) for key, (end, owner) in busy.items()}
    usable = sorted((c for c in caps if not c.maintenance), key=lambda c: c.name)
    fitting: dict[uuid.UUID, list[MachineCapabilities]] = {}
    pending: list[Job] = []
    fits_by_shape: dict[str, tuple[list, list]] = {}  # jobs alike fit the same machines
    allowed_by_shape: dict[tuple, list[MachineCapabilities]] = {}
    allowed_ids: dict[int, frozenset[str]] = {}
    for job in jobs:
        constraints = job_constraints(job=job)
        metadata = job.metadata or {}
        shape = _fit_shape(metadata, constraints)
        if shape not in fits_by_shape:
            fits = [
                c
                for c in usable
                if (not constraints.target_machine_id or c.machine_id == constraints.target_machine_id)
                and not machine_fit_reasons(c, metadata=metadata, constraints=constraints)
            ]
            fits_by_shape[shape] = (fits, [c for c in fits if c.machine_id not in down])
            if fitting_out is not None:
                fitting_out.update(c.machine_id for c in fits)
        fits, working = fits_by_shape[shape]
        allowed = allowed_by_shape.get((job.owner_id, shape))
        if allowed is None:
            allowed = allowed_by_shape[(job.owner_id, shape)] = (
                working
                if policies.snapshot.rules.empty
                else [
                    c
                    for c in working
                    if not policies.missing(job, machine_id=c.machine_id, machine_type=c.machine_type)
                ]
            )
        if not fits:
            result[job.pk] = Forecast(note="no active machine fits this job right now")
        elif not working:
            result[job.pk] = Forecast(
                machines=len(fits), note="waits for a machine to come back (disconnected or in error)"
            )
        elif not allowed:
            result[job.pk] = Forecast(machines=len(working), note="waits for a training")
        else:
            fitting[job.pk] = allowed
            if id(allowed) not in allowed_ids:
                allowed_ids[id(allowed)] = frozenset(c.machine_id for c in allowed)
            pending.append(job)
    t = now
    for _ in range(max_events):
        if not pending:
            break
        for machine_id, (end, owner) in list(busy.items()):
            if end <= t:
                del busy[machine_id]
                fair_share.finished(owner, None)
        free = {c.machine_id: c for c in usable if c.machine_id not in busy}
        interval = calendar.open_interval(t) if calendar.restricts else None
        run = _Run(t, interval, free, busy, fitting, allowed_ids, order, policies, fair_share, result)
        placed = _scheduler_run(run, pending)
        if placed:
            pending = [job for job in pending if job.id not in placed]
        events = [end for end, _ in busy.values() if end > t]
        if calendar.restricts:  # a job held back by the hours can start when the lab next opens
            opening = calendar.next_opening(interval[1] if interval else t)
            if opening is not None and opening > t:
                events.append(opening)
        if not events:
            break
        t = min(events)
    for job in pending:
        result.setdefault(job.pk, Forecast(machines=len(fitting[job.pk]), note="no start in sight"))
    return result


FIT_METADATA = ("filament_need", "materials", "nozzle_diameter", "temperatures", "bounds")


def _fit_shape(metadata: dict, constraints) -> str:
    """What decides which machines a job fits (``machine_fit_reasons``): jobs of one shape fit alike."""
    return json.dumps(
        [repr(constraints), {key: metadata.get(key) for key in FIT_METADATA}], sort_keys=True, default=str
    )


@dataclass
class _Run:
    """One scheduler run played at ``t``; ``interval``: the lab's open interval then (None: closed)."""

    t: datetime
    interval: tuple[datetime, datetime] | None
    free: dict[str, MachineCapabilities]
    busy: dict[str, tuple[datetime, object]]
    fitting: dict[uuid.UUID, list[MachineCapabilities]]
    allowed_ids: dict[int, frozenset[str]]
    order: dict[uuid.UUID, int]
    policies: JobPolicies
    fair_share: object
    result: dict[uuid.UUID, Forecast]

    def may_start(self, job: Job, machine_id: str) -> bool:
        """The opening hours' check of the scheduler (``hours_reason``), as a yes or no at ``t``."""
        policies = self.policies
        if not policies.snapshot.calendar.restricts or job.pk in policies.ignore_hours:
            return True
        if not policies.snapshot.attended_only(machine_id):
            return True
        if self.interval is None:
            return False
        end = self.t + timedelta(seconds=policies.seconds_on(job, machine_id))
        return end <= self.interval[1] - policies.snapshot.margin

    def machine_for(self, job: Job) -> MachineCapabilities | None:
        """The first free machine by name the job may go to now (from the smaller of the two lists)."""
        fitting = self.fitting[job.pk]
        if len(self.free) < len(fitting):
            ids = self.allowed_ids[id(fitting)]
            candidates = (c for c in self.free.values() if c.machine_id in ids)
        else:
            candidates = (c for c in fitting if c.machine_id in self.free)
        return next((c for c in candidates if self.may_start(job, c.machine_id)), None)


def _scheduler_run(run: _Run, pending: list[Job]) -> set:
    placed: set = set()
    t, free, busy, policies, fair_share, result = (
        run.t,
        run.free,
        run.busy,
        run.policies,
        run.fair_share,
        run.result,
    )
    fitting = run.fitting
    for priority in sorted({job.priority for job in pending}, reverse=True):
        band: dict = {}
        for job in pending:
            if job.priority == priority:
                band.setdefault(job.owner_id, []).append(job)
        while free and band:
            owner = fair_share.next_owner(band, run.order)
            queue = band[owner]
            job = queue.pop(0)
            if not queue:
                del band[owner]
            quota = policies.quota_reason(job)
            if quota:
                result[job.pk] = Forecast(machines=len(fitting[job.pk]), note=f"waits: {quota}")
                placed.add(job.id)
                continue
            machine = run.machine_for(job)
            if machine is None:
                continue
            finish = t + timedelta(seconds=policies.seconds_on(job, machine.machine_id))
            del free[machine.machine_id]
            busy[machine.machine_id] = (bed_cleared(policies.snapshot.calendar, finish), owner)
            fair_share.dispatched(owner, job, at=t)
            policies.dispatched(job)
            placed.add(job.id)
            result[job.pk] = Forecast(
                start=t,
                finish=finish,
                machine_id=machine.machine_id,
                machine_name=machine.name,
                machines=len(fitting[job.pk]),
                note="after staff approval" if job.state == JobState.AWAITING_APPROVAL else "",
            )
    return placed
