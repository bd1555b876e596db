"""The stored queue forecast: recomputed when something that can move it changes, read cheaply.

Pages, the board and the API read the latest forecast from the cache (``forecast_latest``: one
query for the queue's version and one cache read). A worker recomputes it (``forecast_refresh``, task
``jobs.tasks.forecast_refresh``) when asked by the receivers below, which decide on each change
whether it can move the forecast (docs/policies.md, "When the forecast is recomputed"):

* a job transition that adds to or takes from the waiting jobs or the jobs on machines, and every
  ``queue_changed`` (a job queued, the queue started): yes. A print going from dispatching to printing,
  a pause or a resume: no (the machine stays busy);
* a machine's live state (``machine_state_changed``, every poll): only for a machine some waiting job
  fits, and only when it goes down or comes back (disconnected, error) or the end of its print moves
  by more than ``FORECAST_TOLERANCE_SECONDS`` from the end the forecast used. Temperatures, a progress
  tick that keeps the end where it was, a machine no waiting job can use: no;
* a change to the lab's policies (hours, closures, trainings, quotas, machine policies) or to a
  machine's configuration: yes.

A request only marks the forecast dirty (one cache write, after the commit); a periodic tick every
``FORECAST_TICK_SECONDS`` recomputes it when it is dirty, or when it is older than
``FORECAST_REFRESH_SECONDS`` (starts move on with time, and that catches what no signal reported). A
burst of changes costs one recompute, and a recompute never waits in the task queue in front of the
dispatches the same changes asked for (issue 18: sent on every change, the recomputes held dispatch
p99 at 3 s at 1,000 printers). A reader that finds no forecast, one computed for an older queue version (the worker has
not got to it yet, or there is none) or one older than ``FORECAST_MAX_AGE`` computes it itself and
stores it, so a page is never wrong about the queue it shows.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from jobs.estimates import printer_job, remaining_seconds
from jobs.forecast import Forecast, Watched, forecast_run, machine_is_down
from jobs.selectors import queue_state_get
from jobs.states import ACTIVE_STATES, QUEUE_STATES
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED
from machines.state import LiveState

FORECAST_KEY = "jobs.forecast:latest"
WATCH_KEY = "jobs.forecast:watch"
DIRTY_KEY = "jobs.forecast:dirty"
FORECAST_TOLERANCE_SECONDS = 120.0  # a print's end may drift this far before the forecast is recomputed
FORECAST_TICK_SECONDS = 5  # how often a dirty forecast is recomputed
FORECAST_REFRESH_SECONDS = 60  # a clean one is recomputed this often: starts move on with time
FORECAST_MAX_AGE = timedelta(seconds=3 * FORECAST_REFRESH_SECONDS)  # older: the reader recomputes
WATCH_LOCAL_SECONDS = 5.0  # how long a process keeps its copy of the watched machines
STORE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class StoredForecast:
    computed_at: datetime
    queue_version: int
    items: dict[uuid.UUID, Forecast]
    seconds: float  # what computing it cost (wall time)


def forecast_refresh(*, now: datetime | None = None) -> StoredForecast:
    """Compute the forecast and store it, with the machines it watches."""
    version = queue_state_get().queue_version  # read first: a change during the run leaves it behind
    started = time.perf_counter()
    run = forecast_run(now=now)
    stored = StoredForecast(
        computed_at=run.now,
        queue_version=version,
        items=run.items,
        seconds=time.perf_counter() - started,
    )
    cache.set_many({FORECAST_KEY: stored, WATCH_KEY: run.watch}, timeout=STORE_SECONDS)
    watch_memo.clear()
    return stored


def forecast_refresh_tick(*, now: datetime | None = None) -> StoredForecast | None:
    """The periodic task's body: recompute when asked since the last run, or when the stored forecast
    is ``FORECAST_REFRESH_SECONDS`` old (or missing); otherwise nothing (None)."""
    dirty = cache.get(DIRTY_KEY) is not None
    stored = None if dirty else forecast_stored()
    current = timezone.now() if now is None else now
    if stored is not None and timedelta(0) <= current - stored.computed_at < timedelta(
        seconds=FORECAST_REFRESH_SECONDS
    ):
        return None
    if dirty:
        cache.delete(DIRTY_KEY)  # first: a request made while this runs marks it dirty again
    return forecast_refresh(now=now)


def forecast_refresh_request() -> None:
    """Mark the forecast dirty once the current transaction commits; the next tick recomputes it."""
    transaction.on_commit(lambda: cache.set(DIRTY_KEY, 1, timeout=STORE_SECONDS))


def forecast_stored() -> StoredForecast | None:
    return cache.get(FORECAST_KEY)


def forecast_latest() -> dict[uuid.UUID, Forecast]:
    """The latest forecast, recomputed here only when there is none for the current queue."""
    stored = forecast_stored()
    if stored is not None and stored.queue_version == queue_state_get().queue_version:
        age = timezone.now() - stored.computed_at
        if timedelta(0) <= age <= FORECAST_MAX_AGE:
            return stored.items
    return forecast_refresh().items


# -- which changes can move the forecast ------------------------------------------------------------


def job_change_matters(*, from_state: str, to_state: str) -> bool:
    """A transition that changes the waiting jobs or which machines are busy."""
    return (
        from_state in QUEUE_STATES
        or to_state in QUEUE_STATES
        or (from_state in ACTIVE_STATES) != (to_state in ACTIVE_STATES)
    )


class WatchMemo:
    """This process's copy of the machines the stored forecast watches, read from the cache at most
    every ``WATCH_LOCAL_SECONDS`` (the poller asks on every changed poll)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._read_at = float("-inf")
        self._watch: dict[str, Watched] = {}

    def get(self) -> dict[str, Watched]:
        if time.monotonic() - self._read_at > WATCH_LOCAL_SECONDS:
            self._watch = dict(cache.get(WATCH_KEY) or {})
            self._read_at = time.monotonic()
        return self._watch

    def note(self, machine_id: str, entry: Watched) -> None:
        self._watch[machine_id] = entry


watch_memo = WatchMemo()


def _report(state: LiveState) -> tuple:
    return (state.status, bool(state.data.get(BED_CLEAR_REQUIRED)), printer_job(state))


def machine_change_matters(*, machine_id: str, old: LiveState, new: LiveState) -> bool:
    """Can this live-state change move the forecast? (see the module's docstring)"""
    if _report(old) == _report(new):
        return False  # temperatures, last seen
    entry = watch_memo.get().get(machine_id)
    if entry is None:
        return False  # no waiting job fits this machine (or no forecast yet: the reader computes one)
    down = machine_is_down(new)
    if down != entry.down:
        watch_memo.note(machine_id, replace(entry, down=down))
        return True
    if entry.end is None:
        return False  # idle in the forecast: it gets a print only through the queue (a job transition)
    left = remaining_seconds(estimate=entry.estimate, progress=printer_job(new).get("progress"), state=new)
    end = timezone.now() + timedelta(seconds=left)
    if abs((end - entry.end).total_seconds()) <= FORECAST_TOLERANCE_SECONDS:
        return False
    watch_memo.note(machine_id, replace(entry, end=end))  # ask once per drift, not on every poll
    return True


def on_job_state_changed(sender, from_state: str, to_state: str, **kwargs) -> None:
    if job_change_matters(from_state=from_state, to_state=to_state):
        forecast_refresh_request()


def on_queue_changed(sender, **kwargs) -> None:
    forecast_refresh_request()


def on_machine_state_changed(sender, machine, old: LiveState, new: LiveState, **kwargs) -> None:
    if machine_change_matters(machine_id=str(machine.id), old=old, new=new):
        forecast_refresh_request()


def on_policy_or_machine_saved(sender, **kwargs) -> None:
    forecast_refresh_request()
