"""Fair share: which owner's job the scheduler tries next, among the jobs of one priority band.

The scheduler keeps priority first (a higher band is served before a lower one) and asks the policy
named by ``settings.JOBS_FAIR_SHARE_POLICY`` (a dotted path to a class) which owner goes next within
a band. A policy is a class built once per scheduler run with what the run knows about each owner; its
``next_owner(band, order)`` picks one of the owners that still have a job to try:

* ``band``: owner id → that owner's waiting jobs of this band still to try, in queue order;
* ``order``: job pk → its place in the queue (0 = front).

After a dispatch the scheduler calls ``dispatched(owner, job, at=None)`` (``at``: when, default now),
so a policy can account for it within the run; the queue forecast (``jobs.forecast``), which plays the
scheduler forward in time, also calls ``finished(owner, job)`` when a print it placed ends. Replace
the policy with your own class (these three methods) to change the order; the training, quota,
opening-hours and machine-fit checks still apply to whatever it picks, and the forecast follows it.

The default, ``OwnerRoundRobin``: the owner with the fewest jobs on machines goes first; on a tie
the owner who got a machine longest ago (never counts as longest), then the owner whose first job
waits furthest ahead in the queue. So a student with 30 jobs at the front does not block one with a
single job behind them, across runs too (the last dispatch times come from the job events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs.models import Job, JobEvent
from jobs.states import ACTIVE_STATES, JobState


@dataclass
class OwnerTurn:
    """What round robin needs to know about an owner: how much they have running and when they last got a machine."""

    active: int = 0
    last_dispatch: datetime | None = None
    jobs: list[Job] = field(default_factory=list)

    def key(self, first_job_order: int) -> tuple:
        never = self.last_dispatch is None
        return (self.active, not never, self.last_dispatch or timezone.now(), first_job_order)


def owner_turns(jobs: list[Job]) -> dict:
    """Per owner of these jobs: jobs on machines now, last dispatch, and their jobs (two queries)."""
    owners = {job.owner_id for job in jobs}
    turns = {owner: OwnerTurn() for owner in owners}
    active_counts = dict(
        Job.objects.filter(owner_id__in=owners, state__in=ACTIVE_STATES)
        .order_by()
        .values_list("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    last = dict(
        JobEvent.objects.filter(job__owner_id__in=owners, to_state=JobState.DISPATCHING)
        .order_by()
        .values_list("job__owner_id")
        .annotate(at=Max("created_at"))
        .values_list("job__owner_id", "at")
    )
    for owner, turn in turns.items():
        turn.active = active_counts.get(owner, 0)
        turn.last_dispatch = last.get(owner)
    for job in jobs:
        turns[job.owner_id].jobs.append(job)
    return turns


class OwnerRoundRobin:
    """The default policy (see the module's docstring)."""

    def __init__(self, jobs: list[Job]) -> None:
        self.turns = owner_turns(jobs)

    def next_owner(self, band: dict, order: dict):
        return min(band, key=lambda owner: self.turns[owner].key(order[band[owner][0].pk]))

    def dispatched(self, owner, job: Job, at: datetime | None = None) -> None:
        turn = self.turns.setdefault(owner, OwnerTurn())
        turn.active += 1
        turn.last_dispatch = at or timezone.now()

    def finished(self, owner, job: Job | None = None) -> None:
        turn = self.turns.get(owner)
        if turn is not None and turn.active > 0:
            turn.active -= 1


class QueueOrder:
    """No fair share: strictly the queue order within a band (an example of a replacement policy)."""

    def __init__(self, jobs: list[Job]) -> None:
        pass

    def next_owner(self, band: dict, order: dict):
        return min(band, key=lambda owner: order[band[owner][0].pk])

    def dispatched(self, owner, job: Job, at: datetime | None = None) -> None:
        pass

    def finished(self, owner, job: Job | None = None) -> None:
        pass


def fair_share_policy(jobs: list[Job]):
    """The configured policy, built for this run's candidate jobs."""
    path = getattr(settings, "JOBS_FAIR_SHARE_POLICY", "") or "jobs.fairshare.OwnerRoundRobin"
    return import_string(path)(jobs)
