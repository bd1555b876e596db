"""Reads of the staff dashboard (/dashboard/): what the lab's machines and people did over a range of days.

Every table is one aggregate query (values + annotate + TruncDate), so the page costs the same number
of queries for ten jobs or a hundred thousand (``tests/pages/test_dashboard.py`` asserts it). Days are
the lab's days (``TIME_ZONE``); a range is inclusive of both ends.

- *Utilisation*: per machine and day, the hours its ended prints (completed, failed, cancelled) ran,
  counted on the day the print started, over 24 h (capped at 100 %: a print crossing midnight adds its
  whole time to its first day).
- *Finished / failed*: jobs that completed or failed, by the day they ended.
- *Failure reasons*: the failed jobs' ``state_reason``, the most frequent first.
- *Queue wait*: each dispatch in the range (a ``JobEvent`` to ``dispatching``) waited since the job's
  move to ``queued`` just before it; p50 and p90 with linear interpolation: PostgreSQL's
  ``percentile_cont`` in the database, elsewhere (SQLite) the same formula in Python over the waits as
  plain numbers, at most ``WAIT_SAMPLE`` (the latest dispatches).
- *By user / by group*: ended jobs that printed (a start time), by the day they ended: their print hours
  (started → finished, as ``jobs.services.accounting`` counts them for the machine) and the grams
  accounting took off the lab's spools for them (``maintenance.MachineUsage.filament_grams``: the
  need times the share printed, per job, once). A job that printed with no spool loaded, or whose need
  was unknown, adds 0 g. A user in several groups counts in each; a user in none under "no group".
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    RowRange,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Coalesce, FirstValue, Lag, TruncDate
from django.utils import timezone

from jobs.models import Job, JobEvent
from jobs.states import JobState
from machines.models import MachineConfig
from maintenance.models import MachineUsage

DEFAULT_DAYS = 14
MAX_DAYS = 366
TOP_REASONS = 10
WAIT_SAMPLE = 100_000  # the latest dispatches the percentiles are computed over
ENDED = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)
NO_REASON = "(no reason given)"
NO_GROUP = "(no group)"
AT_THE_PRINTER = "(at the printer)"


@dataclass(frozen=True)
class DayRange:
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def last(cls, days: int = DEFAULT_DAYS, *, today: dt.date | None = None) -> DayRange:
        today = today or timezone.localdate()
        return cls(start=today - dt.timedelta(days=days - 1), end=today)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[first midnight, midnight after the last day) in the lab's time zone."""
        zone = timezone.get_current_timezone()
        first = dt.datetime.combine(self.start, dt.time.min)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)
        return timezone.make_aware(first, zone), timezone.make_aware(after, zone)


@dataclass(frozen=True)
class MachineRow:
    machine_id: object
    name: str
    hours: list[float]  # per day of the range

    @property
    def total_hours(self) -> float:
        return sum(self.hours)


@dataclass(frozen=True)
class OutcomeDay:
    day: dt.date
    completed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class WaitStats:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    sampled: bool = False  # more dispatches than WAIT_SAMPLE: the latest ones only


@dataclass(frozen=True)
class UsageRow:
    name: str
    jobs: int
    hours: float
    grams: float


@dataclass
class Dashboard:
    range: DayRange
    machines: list[MachineRow] = field(default_factory=list)
    outcomes: list[OutcomeDay] = field(default_factory=list)
    reasons: list[tuple[str, int]] = field(default_factory=list)
    failed_total: int = 0
    waits: WaitStats | None = None
    by_user: list[UsageRow] = field(default_factory=list)
    by_group: list[UsageRow] = field(default_factory=list)


def _hours(duration: dt.timedelta | float | int | None) -> float:
    if duration is None:
        return 0.0
    if isinstance(duration, dt.timedelta):
        return duration.total_seconds() / 3600
    return float(duration) / 3_600_000_000  # microseconds, as some backends return a duration sum


def _print_time():
    return Sum(ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))


def utilisation(day_range: DayRange) -> list[MachineRow]:
    """Print hours per machine and day (every machine, also those that did nothing). Two queries."""
    start, after = day_range.bounds
    rows = (
        Job.objects.filter(
            machine__isnull=False,
            state__in=ENDED,
            started_at__gte=start,
            started_at__lt=after,
            finished_at__isnull=False,
        )
        .annotate(day=TruncDate("started_at"))
        .values("machine_id", "day")
        .annotate(printed=_print_time())
        .order_by()
    )
    hours = {(row["machine_id"], row["day"]): _hours(row["printed"]) for row in rows}
    days = day_range.days
    return [
        MachineRow(
            machine_id=machine["pk"],
            name=machine["name"],
            hours=[hours.get((machine["pk"], day), 0.0) for day in days],
        )
        for machine in MachineConfig.objects.order_by("name").values("pk", "name")
    ]


def outcomes_per_day(day_range: DayRange) -> list[OutcomeDay]:
    """Completed and failed jobs by the day they ended (every day of the range). One query."""
    start, after = day_range.bounds
    rows = (
        Job.objects.filter(
            state__in=(JobState.COMPLETED, JobState.FAILED), finished_at__gte=start, finished_at__lt=after
        )
        .annotate(day=TruncDate("finished_at"))
        .values("day", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {(row["day"], row["state"]): row["n"] for row in rows}
    return [
        OutcomeDay(
            day=day,
            completed=counts.get((day, JobState.COMPLETED), 0),
            failed=counts.get((day, JobState.FAILED), 0),
        )
        for day in day_range.days
    ]


def failure_reasons(day_range: DayRange, *, top: int = TOP_REASONS) -> list[tuple[str, int]]:
    """The most frequent reasons of the jobs that failed in the range, with their counts. One query."""
    start, after = day_range.bounds
    rows = (
        Job.objects.filter(state=JobState.FAILED, finished_at__gte=start, finished_at__lt=after)
        .values("state_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "state_reason")[:top]
    )
    return [(row["state_reason"].strip() or NO_REASON, row["n"]) for row in rows]


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    rank = share * (len(sorted_values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def queue_waits(day_range: DayRange, *, sample: int = WAIT_SAMPLE) -> WaitStats:
    """How long dispatched jobs waited in the queue (queued → dispatching), p50 and p90. One query.

    The queued and dispatching events of the jobs dispatched in the range, each with the one before it
    of the same job (a window, no correlated subquery): a dispatch preceded by a queued event waited
    from that event. A job sent back to the queue (printer busy) waits again from its new queued event.
    """
    start, after = day_range.bounds
    dispatched = (
        JobEvent.objects.filter(to_state=JobState.DISPATCHING, created_at__gte=start, created_at__lt=after)
        .order_by()
        .values("job_id")
    )
    window = {"partition_by": F("job_id"), "order_by": [F("created_at").asc(), F("id").asc()]}
    this_row = {**window, "frame": RowRange(start=0, end=0)}
    # Filters on window values apply to the windowed rows (an outer query); any other filter would
    # apply before the window and hide the queued events from it: so the row's own values are windows too.
    dispatches = (
        JobEvent.objects.filter(
            to_state__in=(JobState.QUEUED, JobState.DISPATCHING), job_id__in=Subquery(dispatched)
        )
        .annotate(
            at=Window(FirstValue("created_at"), **this_row),
            state=Window(FirstValue("to_state"), **this_row),
            since=Window(Lag("created_at"), **window),
            since_state=Window(Lag("to_state"), **window),
        )
        .filter(state=JobState.DISPATCHING, since_state=JobState.QUEUED, at__gte=start, at__lt=after)
        .order_by()
        .values_list("at", "since")
    )
    sql, params = dispatches.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The database sorts and interpolates: three numbers come back, whatever the range.
            seconds = 'GREATEST(EXTRACT(EPOCH FROM ("at" - "since")), 0)'
            percentiles = "percentile_cont(0.5) WITHIN GROUP (ORDER BY w), percentile_cont(0.9) WITHIN GROUP (ORDER BY w)"
            query = f"SELECT count(*), {percentiles} FROM (SELECT {seconds} AS w FROM ({sql}) d) waits"  # noqa: S608 - the ORM's compiled query, values are parameters
            cursor.execute(query, params)
            count, p50, p90 = cursor.fetchone()
            return WaitStats(
                count=count,
                p50_seconds=None if p50 is None else float(p50),
                p90_seconds=None if p90 is None else float(p90),
            )
        # Elsewhere (SQLite) the seconds as plain numbers, sorted, at most ``sample`` (the latest).
        seconds = 'max((julianday("at") - julianday("since")) * 86400.0, 0)'
        query = f'SELECT {seconds}, "at" FROM ({sql}) d ORDER BY "at" DESC LIMIT %s'  # noqa: S608 - as above
        cursor.execute(query, (*params, sample + 1))
        rows = cursor.fetchall()
    sampled = len(rows) > sample
    waits = sorted(round(row[0], 3) for row in rows[:sample])
    return WaitStats(
        count=len(waits),
        p50_seconds=percentile(waits, 0.5),
        p90_seconds=percentile(waits, 0.9),
        sampled=sampled,
    )


def _usage(day_range: DayRange, key: str) -> list[tuple[str, int, float, float]]:
    start, after = day_range.bounds
    grams = MachineUsage.objects.filter(job_id=OuterRef("pk")).order_by().values("filament_grams")[:1]
    rows = (
        Job.objects.filter(
            state__in=ENDED, started_at__isnull=False, finished_at__gte=start, finished_at__lt=after
        )
        .values(key)
        .annotate(
            jobs=Count("pk"),
            printed=_print_time(),
            grams=Sum(
                Coalesce(
                    Subquery(grams, output_field=DecimalField(max_digits=9, decimal_places=2)), Decimal(0)
                )
            ),
        )
        .order_by()
    )
    return [(row[key], row["jobs"], _hours(row["printed"]), float(row["grams"] or 0)) for row in rows]


def usage_by_user(day_range: DayRange) -> list[UsageRow]:
    """Jobs, print hours and grams per job owner (external jobs as "at the printer"). One query."""
    rows = [
        UsageRow(name=name or AT_THE_PRINTER, jobs=jobs, hours=hours, grams=grams)
        for name, jobs, hours, grams in _usage(day_range, "owner__username")
    ]
    return sorted(rows, key=lambda row: (-row.hours, row.name))


def usage_by_group(day_range: DayRange) -> list[UsageRow]:
    """The same per Django group of the job's owner. One query."""
    rows = [
        UsageRow(name=name or NO_GROUP, jobs=jobs, hours=hours, grams=grams)
        for name, jobs, hours, grams in _usage(day_range, "owner__groups__name")
    ]
    return sorted(rows, key=lambda row: (-row.hours, row.name))


def dashboard(day_range: DayRange) -> Dashboard:
    """Everything the page shows: seven queries whatever the number of jobs."""
    reasons = failure_reasons(day_range)
    outcomes = outcomes_per_day(day_range)
    return Dashboard(
        range=day_range,
        machines=utilisation(day_range),
        outcomes=outcomes,
        reasons=reasons,
        failed_total=sum(day.failed for day in outcomes),
        waits=queue_waits(day_range),
        by_user=usage_by_user(day_range),
        by_group=usage_by_group(day_range),
    )
