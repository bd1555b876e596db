"""Opening hours and closures as a calendar: is the lab open at an instant, when does it close, when
does it open next. Pure functions over plain data (no queries), in the lab's ``TIME_ZONE``.

Every instant in and out is an aware datetime; results are UTC. Wall-clock times are turned into
instants with ``zoneinfo`` day by day, so a Monday 09:00 opening is 08:00 UTC in winter and 07:00 UTC
in summer in Europe/Berlin, and a closure across the change is still whole local days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

SEARCH_DAYS = 400  # how far ahead the next opening is looked for


def lab_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class LabCalendar:
    """``intervals[weekday]``: (opens, closes) wall-clock times; ``closures``: (start, end, reason) dates.

    No intervals at all means the lab keeps no opening hours: open whenever no closure applies.
    """

    intervals: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    closures: tuple[tuple[date, date, str], ...] = ()
    zone_name: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    @property
    def keeps_hours(self) -> bool:
        return any(self.intervals.values())

    @property
    def restricts(self) -> bool:
        return self.keeps_hours or bool(self.closures)

    def closure_on(self, day: date) -> tuple[date, date, str] | None:
        for closure in self.closures:
            if closure[0] <= day <= closure[1]:
                return closure
        return None

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The lab's open intervals on a local date, as UTC instants (empty on a closure)."""
        if self.closure_on(day):
            return []
        zone = self.zone
        if not self.keeps_hours:
            start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
            return [(start, end)]
        return [
            (
                datetime.combine(day, opens, tzinfo=zone).astimezone(UTC),
                datetime.combine(day, closes, tzinfo=zone).astimezone(UTC),
            )
            for opens, closes in sorted(self.intervals.get(day.weekday(), ()))
        ]

    def _intervals_from(self, at: datetime, days: int = SEARCH_DAYS):
        """Open intervals ending after ``at``, in order (back-to-back intervals merged)."""
        local_day = at.astimezone(self.zone).date() - timedelta(days=1)
        pending: tuple[datetime, datetime] | None = None
        for offset in range(days + 2):
            for start, end in self._day_intervals(local_day + timedelta(days=offset)):
                if pending and start <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                    continue
                if pending and pending[1] > at:
                    yield pending
                pending = (start, end)
        if pending and pending[1] > at:
            yield pending

    def is_open(self, at: datetime) -> bool:
        return self.open_interval(at) is not None

    def open_interval(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The open interval ``at`` falls in (start inclusive, end exclusive), or None when closed."""
        if not self.restricts:
            return (at, at + timedelta(days=SEARCH_DAYS))
        for start, end in self._intervals_from(at, days=14):
            if start <= at < end:
                return (start, end)
            if start > at:
                return None
        return None

    def next_opening(self, after: datetime) -> datetime | None:
        """When the lab next opens after ``after`` (``after`` itself when open then); None: not within a year."""
        if not self.restricts:
            return after
        for start, _end in self._intervals_from(after):
            return max(start, after)
        return None

    def may_finish(self, start: datetime, seconds: float, margin: timedelta) -> bool:
        """Would a job started at ``start`` and running ``seconds`` end while the lab is open, ``margin``
        before closing?"""
        interval = self.open_interval(start)
        if interval is None:
            return False
        if not self.restricts:
            return True
        return start + timedelta(seconds=seconds) <= interval[1] - margin

    def next_start(self, after: datetime, seconds: float, margin: timedelta) -> datetime | None:
        """The earliest instant at or after ``after`` an attended-only job of ``seconds`` may start."""
        if not self.restricts:
            return after
        for start, end in self._intervals_from(after):
            begin = max(start, after)
            if begin + timedelta(seconds=seconds) <= end - margin:
                return begin
        return None


def describe_opening(at: datetime, zone: ZoneInfo) -> str:
    """Like "Mon 09:00" in the lab's time zone."""
    return at.astimezone(zone).strftime("%a %H:%M")
