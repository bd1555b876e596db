"""Lab policies (``policies``) applied to jobs: what a job costs against a quota, how fast each machine
really prints, and why a job may not go to a machine now (training, quota, opening hours).

The scheduler, the submission checks, the waiting reasons and the ETA board all decide with these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from jobs.models import Job
from jobs.states import ACTIVE_STATES, QUEUE_STATES, JobState
from policies.selectors import (
    PolicySnapshot,
    QuotaLeft,
    TrainingInfo,
    TrainingRules,
    Usage,
    cleared_training_ids,
    jobs_ignoring_hours,
    lab_today,
    missing_trainings,
    policy_snapshot,
    quotas_left,
    training_missing_text,
)

DEFAULT_JOB_SECONDS = 3600.0
SPEED_SAMPLE = 10  # recent finished prints per machine for its speed factor
SPEED_BOUNDS = (0.5, 3.0)  # a factor outside this is a measuring accident, not a machine


def estimated_seconds(metadata: dict | None) -> float:
    """The G-code's estimated print time; a file that states none counts as an hour."""
    try:
        value = float((metadata or {}).get("estimated_time_s") or 0)
    except (TypeError, ValueError):
        value = 0.0
    return value if value > 0 else DEFAULT_JOB_SECONDS


def need_grams(metadata: dict | None) -> float:
    need = (metadata or {}).get("filament_need") or {}
    total = 0.0
    for tool in need.get("tools") or []:
        try:
            total += float(tool.get("grams") or 0)
        except (TypeError, ValueError):
            continue
    return total


def usage_by_owner(
    user_ids: list[int], start: datetime, end: datetime, include_waiting: bool
) -> dict[int, Usage]:
    """Print time and grams of each user's jobs submitted in [start, end): jobs on machines and jobs that
    printed (actual duration; a failed or cancelled print counts its share by progress), plus waiting
    jobs (estimates) when ``include_waiting``. One query. Registered as the quota usage provider."""
    counted = (
        Q(state__in=ACTIVE_STATES)
        | Q(state=JobState.COMPLETED)
        | Q(state__in=[JobState.FAILED, JobState.CANCELLED], started_at__isnull=False)
    )
    if include_waiting:
        counted |= Q(state__in=QUEUE_STATES)
    rows = Job.objects.filter(
        counted, owner_id__in=user_ids, created_at__gte=start, created_at__lt=end
    ).values_list("owner_id", "state", "metadata", "progress", "started_at", "finished_at")
    result: dict[int, Usage] = {}
    for owner_id, state, metadata, progress, started, finished in rows:
        seconds = estimated_seconds(metadata)
        grams = need_grams(metadata)
        if started and finished:
            seconds = max(0.0, (finished - started).total_seconds())
            if state != JobState.COMPLETED:
                grams *= min(max(float(progress or 0), 0.0), 100.0) / 100.0
        result[owner_id] = result.get(owner_id, Usage()) + Usage(seconds, grams)
    return result


def machine_speed_factors() -> dict[str, float]:
    """Per machine, actual print time / G-code estimate over its last few completed prints (1.0 when it
    has none). One query."""
    ranked = (
        Job.objects.filter(
            state=JobState.COMPLETED,
            machine__isnull=False,
            started_at__isnull=False,
            finished_at__isnull=False,
            metadata__estimated_time_s__gt=0,
        )
        .annotate(rank=Window(RowNumber(), partition_by=[F("machine_id")], order_by=F("finished_at").desc()))
        .filter(rank__lte=SPEED_SAMPLE)
        .values_list("machine_id", "started_at", "finished_at", "metadata__estimated_time_s")
    )
    actual: dict[str, float] = {}
    estimated: dict[str, float] = {}
    for machine_id, started, finished, estimate in ranked:
        try:
            estimate = float(estimate)
        except (TypeError, ValueError):
            continue
        key = str(machine_id)
        actual[key] = actual.get(key, 0.0) + (finished - started).total_seconds()
        estimated[key] = estimated.get(key, 0.0) + estimate
    low, high = SPEED_BOUNDS
    return {key: min(max(actual[key] / estimated[key], low), high) for key in actual if estimated[key] > 0}


@dataclass
class JobPolicies:
    """Everything a scheduler run (or a page) needs to apply the lab's policies, read once."""

    snapshot: PolicySnapshot
    speed: dict[str, float] = field(default_factory=dict)
    ignore_hours: set = field(default_factory=set)

    @property
    def now(self) -> datetime:
        return self.snapshot.now

    def seconds_on(self, job: Job, machine_id: str) -> float:
        return estimated_seconds(job.metadata) * self.speed.get(str(machine_id), 1.0)

    def missing(self, job: Job, *, machine_id: str, machine_type: str) -> tuple[TrainingInfo, ...]:
        return self.snapshot.missing(user_id=job.owner_id, machine_id=machine_id, machine_type=machine_type)

    def quota_reason(self, job: Job) -> str:
        return self.snapshot.quota_reason(
            user_id=job.owner_id, seconds=estimated_seconds(job.metadata), grams=need_grams(job.metadata)
        )

    def hours_reason(self, job: Job, *, machine_id: str, start: datetime | None = None) -> str:
        if job.pk in self.ignore_hours:
            return ""
        return self.snapshot.hours_reason(
            machine_id=machine_id, start=start or self.now, seconds=self.seconds_on(job, machine_id)
        )

    def machine_reason(
        self, job: Job, *, machine_id: str, machine_type: str, start: datetime | None = None
    ) -> str:
        """Why the policies keep the job off this machine at ``start`` (default now); "" when they do not."""
        missing = self.missing(job, machine_id=machine_id, machine_type=machine_type)
        if missing:
            return f"waiting: {training_missing_text(missing)}"
        return self.hours_reason(job, machine_id=machine_id, start=start)

    def earliest_start(self, job: Job, *, machine_id: str, after: datetime) -> datetime | None:
        """The first instant at or after ``after`` the job may start on the machine by opening hours."""
        if job.pk in self.ignore_hours or not self.snapshot.attended_only(machine_id):
            return after
        return self.snapshot.calendar.next_start(
            after, self.seconds_on(job, machine_id), self.snapshot.margin
        )

    def dispatched(self, job: Job) -> None:
        self.snapshot.record_dispatch(
            user_id=job.owner_id, seconds=estimated_seconds(job.metadata), grams=need_grams(job.metadata)
        )


def job_policies(*, jobs: list[Job], now: datetime | None = None, with_speed: bool = False) -> JobPolicies:
    """The lab's policies for these jobs' owners, read in a fixed number of queries. The machines'
    speed factors are read when opening hours apply (or ``with_speed``, for forecasts)."""
    now = now or timezone.now()
    snapshot = policy_snapshot(owner_ids={job.owner_id for job in jobs}, now=now)
    restricts = snapshot.calendar.restricts
    return JobPolicies(
        snapshot=snapshot,
        speed=machine_speed_factors() if restricts or with_speed else {},
        ignore_hours=jobs_ignoring_hours([job.pk for job in jobs]) if restricts and jobs else set(),
    )


@dataclass
class SubmissionPolicies:
    """The submitter's trainings and quotas, read once per submission (or batch)."""

    user_id: int | None
    cleared: set[int]
    quotas: list
    pending: Usage = field(default_factory=Usage)  # earlier items of the same batch


def submission_policies(*, user) -> SubmissionPolicies:
    if user is None or not user.is_authenticated:
        return SubmissionPolicies(user_id=None, cleared=set(), quotas=[])
    now = timezone.now()
    return SubmissionPolicies(
        user_id=user.pk,
        cleared=cleared_training_ids(user_ids=[user.pk], on=lab_today(now)).get(user.pk, set()),
        quotas=quotas_left(user_ids=[user.pk], now=now, include_waiting=True).get(user.pk, []),
    )


def submission_reasons(
    *, policies: SubmissionPolicies, rules: TrainingRules, fitting: list, metadata: dict
) -> list[str]:
    """Why the lab's policies refuse this job at submission: no machine that could print it is one the
    submitter is trained for (naming the training and who gives it), or it does not fit what is left of
    a quota. ``fitting``: the machines' capabilities that passed the pre-flight."""
    if policies.user_id is None:
        return []
    reasons = []
    if fitting and not rules.empty:
        missing = [
            missing_trainings(rules, policies.cleared, machine_id=c.machine_id, machine_type=c.machine_type)
            for c in fitting
        ]
        if all(missing):
            names = ", ".join(sorted(c.name for c in fitting))
            needed = {t.id: t for group in missing for t in group}.values()
            reasons.append(
                f"{training_missing_text(needed)}, which you have not completed (or it has expired): every "
                f"machine that could print this job requires it ({names})"
            )
    seconds, grams = estimated_seconds(metadata), need_grams(metadata)
    for left in policies.quotas:
        used = QuotaLeft(left.window, left.used + policies.pending)
        refusal = used.refusal(seconds=seconds, grams=grams)
        if refusal:
            reasons.append(refusal)
            break
    policies.pending = policies.pending + Usage(seconds, grams)
    return reasons
