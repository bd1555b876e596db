"""Queue positions: gapped integers, so an insert or a move writes only the rows that move.

The queue is ordered by priority (high first), then position. Positions within a priority band are
spaced ``STEP`` apart; a job placed between two neighbours takes the midpoint, and only when two
neighbours are adjacent integers is the band renumbered (rare: after ~20 inserts at one spot).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Min, QuerySet

from jobs.exceptions import JobValidationError, QueueConflict, QueueLocked
from jobs.models import Job, QueueState
from jobs.selectors import queue_jobs

STEP = 1 << 20


@dataclass(frozen=True)
class Location:
    """Where to put jobs: ``pos`` ("front", "back" or a resulting index; negative counts from the back,
    -1 is last), or just before/after a waiting job. Nothing given means the back.

    Placement never crosses priority bands: an index outside the job's band is clamped to its edge, and
    before/after must name a job of the same priority.
    """

    pos: int | str | None = None
    before: uuid.UUID | None = None
    after: uuid.UUID | None = None

    def __post_init__(self):
        given = [name for name in ("pos", "before", "after") if getattr(self, name) is not None]
        if len(given) > 1:
            raise JobValidationError(f"give only one of pos, before_uid, after_uid (got {', '.join(given)})")
        if isinstance(self.pos, str) and self.pos not in ("front", "back"):
            raise JobValidationError(f"pos must be 'front', 'back' or an integer, not {self.pos!r}")

    @property
    def is_back(self) -> bool:
        return self.before is None and self.after is None and self.pos in (None, "back")


BACK = Location()


def lock_queue(*, allow_locked: bool = False) -> QueueState:
    """Lock the queue-state row for the rest of the transaction; refuse when staff froze the queue.

    Lock order is always queue row, then job rows, so queue operations and transitions never deadlock.
    """
    state = QueueState.objects.select_for_update().filter(pk=QueueState.SINGLETON_ID).first()
    if state is None:
        QueueState.objects.get_or_create(pk=QueueState.SINGLETON_ID)
        state = QueueState.objects.select_for_update().get(pk=QueueState.SINGLETON_ID)
    if not allow_locked:
        raise_if_locked(state)
    return state


def raise_if_locked(state: QueueState) -> None:
    if state.locked:
        who = state.locked_by.get_username() if state.locked_by else "staff"
        raise QueueLocked(
            f"the queue is locked by {who}: {state.lock_note or 'no reason given'}",
            lock_note=state.lock_note,
        )


def _band(priority: int, exclude: tuple) -> QuerySet[Job]:
    return queue_jobs().filter(priority=priority).exclude(pk__in=exclude)


def _reference(uid: uuid.UUID, priority: int, exclude: tuple) -> Job:
    ref = queue_jobs().filter(pk=uid).only("id", "priority", "position").first()
    if ref is None:
        raise QueueConflict(f"job {uid} is not waiting in the queue")
    if ref.pk in exclude:
        raise QueueConflict("a job cannot be placed relative to itself")
    if ref.priority != priority:
        raise QueueConflict(
            f"job {uid} has priority {ref.priority}, the job(s) placed have priority {priority}; "
            "placement never crosses priorities (change the priority first)"
        )
    return ref


def _neighbours(priority: int, location: Location, exclude: tuple) -> tuple[int | None, int | None]:
    band = _band(priority, exclude)
    by_position = band.order_by("position").values_list("position", flat=True)
    if location.before is not None:
        hi = _reference(location.before, priority, exclude).position
        return band.filter(position__lt=hi).order_by("-position").values_list(
            "position", flat=True
        ).first(), hi
    if location.after is not None:
        lo = _reference(location.after, priority, exclude).position
        return lo, band.filter(position__gt=lo).order_by("position").values_list(
            "position", flat=True
        ).first()
    if location.pos in (None, "back"):
        return band.aggregate(m=Max("position"))["m"], None
    if location.pos == "front":
        return None, band.aggregate(m=Min("position"))["m"]
    others = queue_jobs().exclude(pk__in=exclude)
    total = others.count()
    index = location.pos if location.pos >= 0 else total + 1 + location.pos
    index = min(max(index, 0), total)
    higher = others.filter(priority__gt=priority).count()
    band_size = band.count()
    k = min(max(index - higher, 0), band_size)
    if k == 0:
        return None, band.aggregate(m=Min("position"))["m"]
    rows = list(by_position[k - 1 : k + 1])
    return rows[0], (rows[1] if len(rows) > 1 else None)


def _spread(lo: int | None, hi: int | None, count: int) -> list[int] | None:
    if lo is None and hi is None:
        return [i * STEP for i in range(count)]
    if lo is None:
        return [hi - STEP * (count - i) for i in range(count)]
    if hi is None:
        return [lo + STEP * (i + 1) for i in range(count)]
    step = (hi - lo) // (count + 1)
    if step < 1:
        return None
    return [lo + step * (i + 1) for i in range(count)]


def renumber_band(*, priority: int, exclude: tuple = ()) -> int:
    """Space a band's positions ``STEP`` apart again, keeping the order. Returns rows written."""
    pks = list(_band(priority, exclude).order_by("position", "created_at").values_list("pk", flat=True))
    write_positions([(pk, i * STEP) for i, pk in enumerate(pks)], bump_version=False)
    return len(pks)


def write_positions(pairs: list[tuple], *, bump_version: bool) -> None:
    """Set many positions in a few statements (UPDATE … FROM VALUES; SQLite >= 3.33 and PostgreSQL).

    ``bulk_update`` would build one CASE branch per row, which is quadratic on large batches.
    """
    table = connection.ops.quote_name(Job._meta.db_table)
    pk_field = Job._meta.pk
    cast = "::uuid" if connection.vendor == "postgresql" else ""
    version = ', "version" = "version" + 1' if bump_version else ""
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            params = [
                value
                for pk, position in chunk
                for value in (str(pk_field.get_db_prep_value(pk, connection)), position)
            ]
            # Only placeholders and fixed identifiers are interpolated; every value is a parameter.
            sql = f'UPDATE {table} SET "position" = v.column2{version} FROM (VALUES {values}) AS v WHERE {table}."id" = v.column1{cast}'  # noqa: S608
            cursor.execute(sql, params)


def allocate_positions(*, priority: int, location: Location, count: int, exclude: tuple = ()) -> list[int]:
    """``count`` increasing positions at ``location`` in the band (the queue row must be locked)."""
    for _ in range(2):
        lo, hi = _neighbours(priority, location, exclude)
        positions = _spread(lo, hi, count)
        if positions is not None:
            return positions
        renumber_band(priority=priority, exclude=exclude)
    raise RuntimeError("no room in the queue band even after renumbering")  # unreachable: STEP > 1


def position_for_requeue(*, priority: int, front: bool) -> int:
    location = Location(pos="front") if front else BACK
    return allocate_positions(priority=priority, location=location, count=1)[0]
