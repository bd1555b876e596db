"""The stored forecast: which changes ask for a recompute, and that a burst of them costs one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from jobs import forecast_store
from jobs.forecast import Watched
from machines.machine_types.printer_3d import Printer3DStatus
from machines.state import LiveState
from mes import engine

pytestmark = pytest.mark.django_db


def printing(progress: float, time_left: float) -> LiveState:
    job = {"file_name": "part.gcode", "progress": progress, "time_left": time_left}
    return LiveState(
        status=int(Printer3DStatus.PRINTING),
        initialized=True,
        data={"printer_state": {"status": "printing", "job": job}},
        source="cache",
        last_seen=timezone.now(),
    )


@pytest.fixture
def watched():
    """A stored forecast that has machine m1 printing until 30 min from now; m2 fits no waiting job."""
    cache.set(
        forecast_store.WATCH_KEY,
        {"m1": Watched(end=timezone.now() + timedelta(minutes=30), estimate=3600, down=False)},
    )
    forecast_store.watch_memo.clear()
    yield
    forecast_store.watch_memo.clear()


def test_a_progress_tick_that_keeps_the_end_does_not_recompute(watched):
    old, new = printing(50.0, 1800), printing(50.5, 1790)
    assert not forecast_store.machine_change_matters(machine_id="m1", old=old, new=new)


def test_a_print_running_late_recomputes_once(watched):
    old, late = printing(50.0, 1800), printing(50.5, 1800 + 600)
    assert forecast_store.machine_change_matters(machine_id="m1", old=old, new=late)
    later = printing(51.0, 1795 + 600)  # the same drift seen again: asked already
    assert not forecast_store.machine_change_matters(machine_id="m1", old=late, new=later)


def test_a_machine_no_waiting_job_fits_never_recomputes(watched):
    old, new = printing(50.0, 1800), printing(50.5, 1800 + 3600)
    assert not forecast_store.machine_change_matters(machine_id="m2", old=old, new=new)


def test_a_machine_going_down_recomputes(watched):
    down = LiveState(
        status=int(Printer3DStatus.ERROR), initialized=True, source="cache", last_seen=timezone.now()
    )
    assert forecast_store.machine_change_matters(machine_id="m1", old=printing(50.0, 1800), new=down)


def test_a_burst_of_requests_costs_one_recompute_at_the_next_tick(
    monkeypatch, django_capture_on_commit_callbacks
):
    forecast_store.forecast_refresh()
    sent, runs = [], []
    monkeypatch.setattr(engine, "send_now", lambda path, *args, **kwargs: sent.append(path))
    real_run = forecast_store.forecast_run
    monkeypatch.setattr(forecast_store, "forecast_run", lambda **kw: runs.append(kw) or real_run(**kw))
    assert forecast_store.forecast_refresh_tick() is None  # fresh and nobody asked: nothing to do
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(100):
            forecast_store.forecast_refresh_request()
    assert sent == []  # no task in the worker's queue in front of the dispatches
    assert runs == []
    assert forecast_store.forecast_refresh_tick() is not None
    assert len(runs) == 1
    assert forecast_store.forecast_refresh_tick() is None  # asked once, computed once
    assert len(runs) == 1


def test_a_request_rolled_back_asks_for_nothing(django_capture_on_commit_callbacks):
    forecast_store.forecast_refresh()
    with django_capture_on_commit_callbacks(execute=False):
        forecast_store.forecast_refresh_request()
    assert forecast_store.forecast_refresh_tick() is None


def test_the_tick_moves_a_clean_forecast_on_with_time():
    stored = forecast_store.forecast_refresh()
    later = stored.computed_at + timedelta(seconds=forecast_store.FORECAST_REFRESH_SECONDS + 1)
    moved = forecast_store.forecast_refresh_tick(now=later)
    assert moved is not None and moved.computed_at == later
    cache.delete(forecast_store.FORECAST_KEY)
    assert forecast_store.forecast_refresh_tick() is not None  # none stored: computed


def test_pages_read_the_stored_forecast_until_the_queue_changes(monkeypatch):
    stored = forecast_store.forecast_refresh()
    calls = []
    monkeypatch.setattr(forecast_store, "forecast_run", lambda **kw: calls.append(kw))
    assert forecast_store.forecast_latest() == stored.items
    assert calls == []
