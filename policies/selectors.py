"""Reads: which trainings a machine needs and who holds them, the lab's calendar, quotas and what is left.

``policy_snapshot()`` reads everything the scheduler needs in a fixed number of queries, whatever the
fleet size and the number of jobs; the scheduler, the waiting reasons and the ETA board decide from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from policies.hours import LabCalendar, describe_opening, lab_zone
from policies.models import (
    Closure,
    JobOverride,
    MachinePolicy,
    OpeningHours,
    Quota,
    Training,
    TrainingRecord,
    TrainingRequirement,
)


# --- trainings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingInfo:
    id: int
    name: str
    given_by: str = ""

    def describe(self) -> str:
        return f"'{self.name}'" + (f" (given by {self.given_by})" if self.given_by else "")


@dataclass(frozen=True)
class TrainingRules:
    by_type: dict[str, tuple[TrainingInfo, ...]] = field(default_factory=dict)
    by_machine: dict[str, tuple[TrainingInfo, ...]] = field(default_factory=dict)

    def required(self, *, machine_id: str, machine_type: str) -> tuple[TrainingInfo, ...]:
        found = {
            t.id: t for t in (*self.by_type.get(machine_type, ()), *self.by_machine.get(str(machine_id), ()))
        }
        return tuple(sorted(found.values(), key=lambda t: t.name))

    @property
    def empty(self) -> bool:
        return not self.by_type and not self.by_machine


def training_rules() -> TrainingRules:
    """Every training requirement, one query."""
    by_type: dict[str, list[TrainingInfo]] = {}
    by_machine: dict[str, list[TrainingInfo]] = {}
    for req in TrainingRequirement.objects.select_related("training"):
        info = TrainingInfo(req.training_id, req.training.name, req.training.given_by)
        if req.machine_id:
            by_machine.setdefault(str(req.machine_id), []).append(info)
        else:
            by_type.setdefault(req.machine_type, []).append(info)
    return TrainingRules(
        by_type={k: tuple(v) for k, v in by_type.items()},
        by_machine={k: tuple(v) for k, v in by_machine.items()},
    )


def lab_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(lab_zone()).date()


def training_records() -> QuerySet[TrainingRecord]:
    """Every training record (the whole history)."""
    return TrainingRecord.objects.all()


def cleared_training_ids(*, user_ids: Iterable, on: date) -> dict[int, set[int]]:
    """Per user, the trainings they hold on a (lab-local) date: completed by then and not expired.

    Members of the ``POLICIES_TRAINING_EXEMPT_GROUP`` group hold every training: trainings gate this
    lab's people, while a partner lab's jobs arrive through an account that staff approved and that
    lab trains its own students."""
    user_ids = list(user_ids)
    rows = TrainingRecord.objects.filter(user_id__in=user_ids, completed_on__lte=on).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=on)
    )
    result: dict[int, set[int]] = {}
    for user_id, training_id in rows.values_list("user_id", "training_id"):
        result.setdefault(user_id, set()).add(training_id)
    exempt = Group.objects.filter(
        name=settings.POLICIES_TRAINING_EXEMPT_GROUP, user__in=user_ids
    ).values_list("user", flat=True)
    exempt = set(exempt)
    if exempt:
        every = set(Training.objects.values_list("pk", flat=True))
        result.update(dict.fromkeys(exempt, every))
    return result


def missing_trainings(
    rules: TrainingRules, cleared: set[int], *, machine_id: str, machine_type: str
) -> tuple[TrainingInfo, ...]:
    return tuple(
        t for t in rules.required(machine_id=machine_id, machine_type=machine_type) if t.id not in cleared
    )


def training_missing_text(missing: Iterable[TrainingInfo]) -> str:
    items = sorted({t.id: t for t in missing}.values(), key=lambda t: t.name)
    if not items:
        return ""
    names = "; ".join(t.describe() for t in items)
    return f"needs the training {names}"


def user_trainings(*, user) -> QuerySet[TrainingRecord]:
    """A user's training records, newest first (the whole history)."""
    return TrainingRecord.objects.filter(user=user).select_related("training", "trainer")


def training_list() -> QuerySet[Training]:
    return Training.objects.all()


# --- the lab's calendar ----------------------------------------------------------------------------
def lab_calendar() -> LabCalendar:
    """Opening hours and closures (two queries)."""
    intervals: dict[int, list[tuple[time, time]]] = {}
    for weekday, opens, closes in OpeningHours.objects.values_list("weekday", "opens", "closes"):
        intervals.setdefault(weekday, []).append((opens, closes))
    closures = tuple(Closure.objects.values_list("start_date", "end_date", "reason"))
    return LabCalendar(
        intervals={k: tuple(sorted(v)) for k, v in intervals.items()},
        closures=closures,
        zone_name=settings.TIME_ZONE,
    )


def closing_margin() -> timedelta:
    return timedelta(minutes=float(getattr(settings, "POLICIES_CLOSING_MARGIN_MINUTES", 30) or 0))


def jobs_ignoring_hours(job_ids: Iterable) -> set:
    """Of these jobs, those staff let start outside opening hours (one query)."""
    return set(
        JobOverride.objects.filter(job_id__in=list(job_ids), ignore_opening_hours=True).values_list(
            "job_id", flat=True
        )
    )


def unattended_machine_ids() -> set[str]:
    return {
        str(pk)
        for pk in MachinePolicy.objects.filter(unattended_allowed=True).values_list("machine_id", flat=True)
    }


# --- quotas ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Usage:
    seconds: float = 0.0
    grams: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.seconds + other.seconds, self.grams + other.grams)


# (user ids, start, end, include_waiting) -> {user id: Usage}; registered by ``jobs`` (it owns the jobs).
UsageProvider = Callable[[list[int], datetime, datetime, bool], dict[int, Usage]]
_usage_provider: UsageProvider | None = None


def set_usage_provider(provider: UsageProvider | None) -> None:
    global _usage_provider
    _usage_provider = provider


def _usage(user_ids: list[int], start: datetime, end: datetime, include_waiting: bool) -> dict[int, Usage]:
    if _usage_provider is None or not user_ids:
        return {}
    return _usage_provider(user_ids, start, end, include_waiting)


@dataclass(frozen=True)
class QuotaWindow:
    quota_id: int
    period: str
    start: datetime
    end: datetime
    max_hours: float | None
    max_grams: float | None
    source: str  # "your quota" or "group Course 101"

    @property
    def label(self) -> str:
        return "this week" if self.period == Quota.Period.WEEK else "this term"


@dataclass(frozen=True)
class QuotaLeft:
    window: QuotaWindow
    used: Usage

    @property
    def hours_left(self) -> float | None:
        if self.window.max_hours is None:
            return None
        return max(0.0, self.window.max_hours - self.used.seconds / 3600)

    @property
    def grams_left(self) -> float | None:
        if self.window.max_grams is None:
            return None
        return max(0.0, self.window.max_grams - self.used.grams)

    def refusal(self, *, seconds: float, grams: float) -> str:
        """Why a job of this size does not fit what is left ("" when it does)."""
        w = self.window
        if w.max_hours is not None and self.used.seconds + seconds > w.max_hours * 3600 + 1e-6:
            return (
                f"quota: the job needs {seconds / 3600:.1f} h of print time, {self.hours_left:.1f} h of "
                f"{w.max_hours:g} h left {w.label} ({w.source})"
            )
        if w.max_grams is not None and self.used.grams + grams > w.max_grams + 1e-6:
            return (
                f"quota: the job needs {grams:.0f} g of filament, {self.grams_left:.0f} g of "
                f"{w.max_grams:g} g left {w.label} ({w.source})"
            )
        return ""

    def as_dict(self) -> dict:
        w = self.window
        return {
            "period": w.period,
            "source": w.source,
            "starts": w.start,
            "ends": w.end,
            "max_hours": w.max_hours,
            "max_grams": w.max_grams,
            "used_hours": round(self.used.seconds / 3600, 2),
            "used_grams": round(self.used.grams, 1),
            "hours_left": None if self.hours_left is None else round(self.hours_left, 2),
            "grams_left": None if self.grams_left is None else round(self.grams_left, 1),
        }

    def describe(self) -> str:
        parts = []
        if self.hours_left is not None:
            parts.append(f"{self.hours_left:.1f} h of {self.window.max_hours:g} h")
        if self.grams_left is not None:
            parts.append(f"{self.grams_left:.0f} g of {self.window.max_grams:g} g")
        return f"{' and '.join(parts)} left {self.window.label} ({self.window.source})"


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _window(quota: Quota, now: datetime, source: str) -> QuotaWindow | None:
    zone = lab_zone()
    today = now.astimezone(zone).date()
    if quota.period == Quota.Period.WEEK:
        first = today - timedelta(days=today.weekday())
        last = first + timedelta(days=7)
    else:
        if not (quota.term_start and quota.term_end) or not quota.term_start <= today <= quota.term_end:
            return None
        first, last = quota.term_start, quota.term_end + timedelta(days=1)
    return QuotaWindow(
        quota_id=quota.pk,
        period=quota.period,
        start=datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC),
        end=datetime.combine(last, time(0), tzinfo=zone).astimezone(UTC),
        max_hours=_float(quota.max_hours),
        max_grams=_float(quota.max_grams),
        source=source,
    )


def quota_windows(*, user_ids: Iterable, now: datetime) -> dict[int, list[QuotaWindow]]:
    """The quotas that apply to each user now (one query). Group quotas apply to each member alone; a
    user's own quota for a period replaces their groups' quotas for that period."""
    user_ids = list(user_ids)
    result: dict[int, list[QuotaWindow]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return result
    rows = (
        Quota.objects.filter(Q(user_id__in=user_ids) | Q(group__user__in=user_ids))
        .annotate(member=F("group__user"), group_name=F("group__name"))
        .order_by("pk")
    )
    wanted = set(user_ids)
    own: dict[int, list[Quota]] = {}
    by_group: dict[int, list[Quota]] = {}
    for quota in rows:
        if quota.user_id is not None:
            own.setdefault(quota.user_id, []).append(quota)
        elif quota.member in wanted:
            by_group.setdefault(quota.member, []).append(quota)
    for user_id in user_ids:
        mine = own.get(user_id, [])
        own_periods = {q.period for q in mine}
        candidates = [(q, "your quota") for q in mine] + [
            (q, f"group {q.group_name}") for q in by_group.get(user_id, []) if q.period not in own_periods
        ]
        for quota, source in candidates:
            window = _window(quota, now, source)
            if window:
                result[user_id].append(window)
    return result


def quotas_left(
    *, user_ids: Iterable, now: datetime | None = None, include_waiting: bool
) -> dict[int, list[QuotaLeft]]:
    """What each user has left of every quota that applies now. ``include_waiting``: count jobs still
    waiting in the queue as used (at submission); without it only jobs that started count (at dispatch)."""
    now = now or timezone.now()
    windows = quota_windows(user_ids=user_ids, now=now)
    spans: dict[tuple[datetime, datetime], list[int]] = {}
    for user_id, items in windows.items():
        for window in items:
            spans.setdefault((window.start, window.end), []).append(user_id)
    used = {
        span: _usage(sorted(set(users)), span[0], span[1], include_waiting) for span, users in spans.items()
    }
    return {
        user_id: [QuotaLeft(w, used[(w.start, w.end)].get(user_id, Usage())) for w in items]
        for user_id, items in windows.items()
    }


def quota_refusal(*, quotas: list[QuotaLeft], seconds: float, grams: float) -> str:
    for left in quotas:
        reason = left.refusal(seconds=seconds, grams=grams)
        if reason:
            return reason
    return ""


# --- everything the scheduler needs, once per run ----------------------------------------------------
@dataclass
class PolicySnapshot:
    now: datetime
    rules: TrainingRules
    cleared: dict[int, set[int]]
    calendar: LabCalendar
    unattended: set[str]
    margin: timedelta
    quotas: dict[int, list[QuotaLeft]]

    def missing(self, *, user_id: int | None, machine_id: str, machine_type: str) -> tuple[TrainingInfo, ...]:
        if user_id is None or self.rules.empty:
            return ()
        return missing_trainings(
            self.rules, self.cleared.get(user_id, set()), machine_id=machine_id, machine_type=machine_type
        )

    def quota_reason(self, *, user_id: int | None, seconds: float, grams: float) -> str:
        if user_id is None:
            return ""
        return quota_refusal(quotas=self.quotas.get(user_id, []), seconds=seconds, grams=grams)

    def attended_only(self, machine_id: str) -> bool:
        return self.calendar.restricts and str(machine_id) not in self.unattended

    def hours_reason(self, *, machine_id: str, start: datetime, seconds: float) -> str:
        """Why an attended-only machine may not start a job of ``seconds`` at ``start`` ("" when it may)."""
        if not self.attended_only(machine_id):
            return ""
        if self.calendar.may_finish(start, seconds, self.margin):
            return ""
        opening = self.calendar.next_start(start + timedelta(seconds=1), seconds, self.margin)
        if opening is None:
            return "waits: the job is longer than the lab is open at a stretch"
        return f"waits for opening at {describe_opening(opening, self.calendar.zone)}"

    def record_dispatch(self, *, user_id: int | None, seconds: float, grams: float) -> None:
        """A job was dispatched in this run: it counts against its owner's quotas from now on."""
        if user_id is None:
            return
        self.quotas[user_id] = [
            QuotaLeft(q.window, q.used + Usage(seconds, grams)) for q in self.quotas.get(user_id, [])
        ]


def policy_snapshot(*, owner_ids: Iterable, now: datetime | None = None) -> PolicySnapshot:
    """Trainings, records of the given owners, calendar, unattended machines and quotas: a fixed
    number of queries, whatever the fleet size."""
    now = now or timezone.now()
    owner_ids = [uid for uid in set(owner_ids) if uid is not None]
    rules = training_rules()
    calendar = lab_calendar()
    return PolicySnapshot(
        now=now,
        rules=rules,
        cleared=cleared_training_ids(user_ids=owner_ids, on=lab_today(now)) if not rules.empty else {},
        calendar=calendar,
        unattended=unattended_machine_ids() if calendar.restricts else set(),
        margin=closing_margin(),
        quotas=quotas_left(user_ids=owner_ids, now=now, include_waiting=False),
    )
