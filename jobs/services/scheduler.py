"""The scheduler: give the next eligible queued jobs to idle machines that fit them.

Stateless and safe to run in several processes at once: every decision is re-checked by the atomic
``queued → dispatching`` transition (``expected_states``) and by the database constraint that a machine
holds at most one active job, so two schedulers can never hand one job out twice or give one machine two.
Triggered by ``queue_changed``, ``machine_became_idle`` and a periodic sweep (``jobs.tasks``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from jobs.exceptions import IllegalTransition
from jobs.fairshare import fair_share_policy
from jobs.models import Job
from jobs.policy import JobPolicies, job_policies
from jobs.preflight import MachineCapabilities, machine_fit_reasons, material_reason
from jobs.selectors import QUEUE_ORDER, MachineCapabilitiesIndex, job_constraints, queue_state_get
from jobs.services.lifecycle import job_transition
from jobs.states import ACTIVE_STATES, DISPATCH_STATES, ActorKind, JobState
from machines.machine_types.base import BaseMachineType
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.registry import get_registry
from machines.state import LiveState, read_states
from mes.engine import coalesced_started, enqueue, enqueue_coalesced

logger = logging.getLogger(__name__)

# Jobs examined per owner and run; enough to skip jobs no idle machine fits without loading the queue.
HEADS_PER_OWNER_SLACK = 20
HEATING_JOB_STATES = DISPATCH_STATES  # sent to a printer that is heating up for it


def machine_is_available(machine: BaseMachineType, state: LiveState) -> bool:
    """Can this machine take a new job right now, judging by its configuration and live state?"""
    return bool(
        machine.active
        and machine.driver is not None
        and not machine.config_errors
        and state.initialized
        and not state.stale
        and state.status is not None
        and state.status in {int(s) for s in machine.idle_statuses}
        and not state.data.get(BED_CLEAR_REQUIRED)
    )


def heating_machine_ids(states: dict[str, LiveState]) -> set[str]:
    """Machines drawing heater power now: a job on its way to them, a print that has not made progress
    yet (started, but the printer may not have been polled since), or the printer says heating."""
    heating_jobs = Q(state__in=HEATING_JOB_STATES) | (
        Q(state=JobState.PRINTING) & (Q(progress__isnull=True) | Q(progress__lte=0))
    )
    ids = {
        str(machine_id)
        for machine_id in Job.objects.filter(heating_jobs, machine__isnull=False).values_list(
            "machine_id", flat=True
        )
    }
    ids |= {
        machine_id for machine_id, state in states.items() if state.status == int(Printer3DStatus.HEATING)
    }
    return ids


def _candidate_jobs(limit_per_owner: int) -> list[Job]:
    """Each owner's first queued jobs in queue order (a window per owner), highest priority first."""
    ranked = (
        Job.objects.filter(state=JobState.QUEUED)
        .annotate(owner_rank=Window(RowNumber(), partition_by=[F("owner_id")], order_by=list(QUEUE_ORDER)))
        .filter(owner_rank__lte=limit_per_owner)
        .order_by(*QUEUE_ORDER)
    )
    return list(ranked)


def _fits(job: Job, caps: MachineCapabilities, policies: JobPolicies | None = None) -> bool:
    if job.target_machine_id and str(job.target_machine_id) != caps.machine_id:
        return False
    constraints = getattr(job, "_constraints", None)
    if constraints is None:  # once per job and run: a job may be compared with a thousand machines
        constraints = job._constraints = job_constraints(job=job)
    metadata = job.metadata or {}
    # The spool check first: in a lab that tracks spools it is what most often rules a machine out.
    if caps.maintenance or material_reason(caps, metadata=metadata, constraints=constraints):
        return False
    if machine_fit_reasons(caps, metadata=metadata, constraints=constraints):
        return False
    # The lab's policies: the owner's trainings (expired ones stop new dispatches, never running jobs:
    # only queued jobs get here), and opening hours on attended-only machines.
    return policies is None or not policies.machine_reason(
        job, machine_id=caps.machine_id, machine_type=caps.machine_type
    )


class _MachineTaken(Exception):
    pass


def _dispatch_one(job: Job, machine: BaseMachineType) -> Job | None:
    """queued → dispatching on ``machine``. None when the job was taken meanwhile (another scheduler,
    a user); ``_MachineTaken`` when the machine got another job meanwhile (the one-active-job constraint)."""
    try:
        return job_transition(
            job=job.pk,
            to_state=JobState.DISPATCHING,
            actor_kind=ActorKind.SCHEDULER,
            reason=f"dispatching to {machine.name}",
            expected_states={JobState.QUEUED},
            changes={"machine": machine.config},
            extra={"machine": machine.id, "machine_name": machine.name},
        )
    except IllegalTransition:
        return None
    except IntegrityError as exc:
        logger.info("machine %s took another job while we were choosing; skipping it", machine.name)
        raise _MachineTaken(machine.id) from exc


def schedule_run(*, now: datetime | None = None) -> list[Job]:
    """Dispatch as many queued jobs as there are idle, fitting machines; return the jobs dispatched.

    Priority first; within a priority the fair-share policy (``jobs.fairshare``) picks whose job is
    tried next, each owner's jobs in queue order. The lab's policies (``jobs.policy``) keep a job off
    machines its owner is not trained for, off attended-only machines when it would not end before
    closing, and off every machine when its owner's quota is used up. At most ``JOBS_MAX_HEATING``
    machines heat at once (0: no limit). ``now``: the instant the opening hours are judged at (tests).
    """
    if not queue_state_get().dispatch_allowed:
        return []
    registry = get_registry()
    machines = [m for m in registry.machines() if m.active]
    if not machines:
        return []
    states = read_states([m.id for m in machines])
    busy = {
        str(machine_id)
        for machine_id in Job.objects.filter(state__in=ACTIVE_STATES, machine__isnull=False).values_list(
            "machine_id", flat=True
        )
    }
    idle = [m for m in machines if m.id not in busy and machine_is_available(m, states[m.id])]
    if not idle:
        return []
    max_heating = int(getattr(settings, "JOBS_MAX_HEATING", 0) or 0)
    heating = len(heating_machine_ids(states)) if max_heating else 0
    if max_heating and heating >= max_heating:
        return []
    caps = MachineCapabilitiesIndex([m.config for m in idle])  # built per machine as jobs are tried
    free = {m.id: m for m in sorted(idle, key=lambda m: m.name)}

    jobs = _candidate_jobs(len(free) + HEADS_PER_OWNER_SLACK)
    if not jobs:
        return []
    dispatched: list[Job] = []
    order = {job.pk: index for index, job in enumerate(jobs)}
    priorities = sorted({job.priority for job in jobs}, reverse=True)
    fair_share = fair_share_policy(jobs)
    policies = job_policies(jobs=jobs, now=now)  # trainings, hours, quotas: read once per run
    for priority in priorities:
        # Within a band, the fair-share policy picks whose job is tried next, until no owner has a job
        # that fits a free machine.
        band: dict = {}
        for job in jobs:
            if job.priority == priority:
                band.setdefault(job.owner_id, []).append(job)
        while free and band and not (max_heating and heating >= max_heating):
            owner = fair_share.next_owner(band, order)
            queue = band[owner]
            job = queue.pop(0)
            if not queue:
                del band[owner]
            if policies.quota_reason(job):
                continue  # the owner's quota is used up: the job waits (its queue entry says why)
            machine = next((m for m in free.values() if _fits(job, caps[m.id], policies)), None)
            if machine is None:
                continue
            try:
                done = _dispatch_one(job, machine)
            except _MachineTaken:
                del free[machine.id]
                band.setdefault(owner, []).insert(0, job)  # the job is still waiting: try it elsewhere
                continue
            if done is None:
                continue  # someone else dispatched this job; the machine is still free
            del free[machine.id]
            dispatched.append(done)
            heating += 1
            fair_share.dispatched(owner, done)
            policies.dispatched(done)
            enqueue("jobs.tasks.job_dispatch", str(done.pk))
        if not free or (max_heating and heating >= max_heating):
            break
    if dispatched:
        logger.info("scheduler dispatched %d job(s)", len(dispatched))
    return dispatched


def stale_dispatches(*, older_than_seconds: float = 30.0) -> list[Job]:
    """Jobs left ``dispatching``/``uploaded`` (a worker died or the printer was unreachable): the sweep
    hands them to ``job_dispatch`` again, which is idempotent."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        Job.objects.filter(Q(state__in=HEATING_JOB_STATES) & Q(updated_at__lt=cutoff)).only("pk", "state")
    )


SCHEDULER_RUN_KEY = "jobs.scheduler-run"


def scheduler_run_request() -> None:
    """Ask for a scheduler run after the current transaction commits; triggers coalesce.

    A thousand printers turning idle at once must not queue a thousand scheduler runs: while one
    run waits in the queue, further triggers are dropped, and a trigger during a run queues the next.
    """
    enqueue_coalesced("jobs.tasks.scheduler_run", key=SCHEDULER_RUN_KEY)


def scheduler_run_started() -> None:
    coalesced_started(SCHEDULER_RUN_KEY)
