"""One way to declare tasks and periodic schedules, run by Celery or django-q2 alike.

Apps write plain functions in their ``tasks.py`` and decorate them with ``@task``; the function stays
callable directly (tests, the embedded engine) and is registered with Celery under its dotted path,
acknowledged late so that a worker killed mid-task hands it to another. ``enqueue`` sends a task only
after the current transaction commits, so a worker never sees a row that does not exist yet.

Periodic schedules are declared once with ``periodic(...)``; Celery beat gets them as its
``beat_schedule`` and the embedded default runs them from ``manage.py mes_beat``, which, unlike
django-q2's own schedules, handles intervals of a few seconds.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str  # dotted path of a function decorated with @task
    seconds: float


class Schedule:
    """The periodic tasks of this installation; apps add theirs in AppConfig.ready()."""

    def __init__(self, *, intervals: dict[str, float] | None = None) -> None:
        self._entries: dict[str, Periodic] = {}
        self._intervals = dict(intervals or {})  # the operator's PERIODIC_INTERVALS, by name

    def add(self, *, name: str, task: str, seconds: float) -> Periodic:
        if seconds <= 0:
            raise ValueError(f"periodic task {name!r} needs a positive interval, got {seconds}")
        existing = self._entries.get(name)
        entry = Periodic(name=name, task=task, seconds=self._intervals.get(name, seconds))
        if existing is not None and existing != entry:
            raise ValueError(f"periodic task {name!r} is declared twice with different settings")
        self._entries[name] = entry
        return entry

    def unknown_intervals(self) -> list[str]:
        """Names in PERIODIC_INTERVALS that no app declares (a typo would otherwise change nothing)."""
        return sorted(set(self._intervals) - set(self._entries))

    def entries(self) -> list[Periodic]:
        return sorted(self._entries.values(), key=lambda entry: entry.name)

    def celery_beat_schedule(self) -> dict[str, dict[str, Any]]:
        return {
            entry.name: {"task": entry.task, "schedule": entry.seconds, "options": {"expires": entry.seconds}}
            for entry in self.entries()
        }


def schedule() -> Schedule:
    """The process's schedule, owned by the mes AppConfig (no module global)."""
    from django.apps import apps

    return apps.get_app_config("mes").schedule


# Task functions by dotted path, and the Celery apps that run them. Kept here rather than with
# Celery's ``shared_task`` so that a process on the embedded engine (and every poller) never imports
# Celery: that import alone cost about 0.15 s of CPU at each process start. Module-level like
# Celery's own list of shared tasks: decorators run at import time, before any AppConfig is ready.
_TASKS: dict[str, Callable] = {}
_CELERY_APPS: list[Any] = []


def task(func: Callable) -> Callable:
    """Declare ``func`` a task under its dotted path; Celery runs it late-acked (requeued if the worker
    dies). The function itself is returned unchanged: callable directly, sent by path."""
    name = f"{func.__module__}.{func.__name__}"
    _TASKS[name] = func
    for app in _CELERY_APPS:
        _celery_register(app, name, func)
    return func


def celery_install(app: Any) -> None:
    """Register every declared task with ``app`` (mes.celery), and those declared later as they come."""
    _CELERY_APPS.append(app)
    for name, func in _TASKS.items():
        _celery_register(app, name, func)


def _celery_register(app: Any, name: str, func: Callable) -> None:
    app.task(name=name, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(func)


def resolve(path: str) -> Callable:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def send_now(path: str, *args: Any, **kwargs: Any) -> None:
    """Hand a task to the configured engine immediately (prefer ``enqueue`` inside transactions)."""
    if settings.TASK_ENGINE == "celery":
        from mes.celery import app  # inside: mes.celery imports this module (cycle); built only for celery

        app.send_task(path, args=args, kwargs=kwargs)
    else:
        from django_q.tasks import async_task  # inside: optional dependency (the django-q2 engine)

        async_task(path, *args, **kwargs)


def enqueue(path: str, *args: Any, **kwargs: Any) -> None:
    """Send a task once the surrounding transaction commits (at once when there is none)."""
    transaction.on_commit(lambda: send_now(path, *args, **kwargs))


def enqueue_coalesced(path: str, *, key: str, ttl: float = 30.0) -> None:
    """Like ``enqueue``, but while one such task waits in the queue, further requests are dropped.

    The task calls ``coalesced_started(key)`` first thing, so a request made while it runs queues
    the next run and none is lost. ``ttl`` bounds how long a lost task can hold the mark.
    """

    def send() -> None:
        if cache.add(f"engine:pending:{key}", 1, timeout=ttl):
            send_now(path)

    transaction.on_commit(send)


def coalesced_started(key: str) -> None:
    cache.delete(f"engine:pending:{key}")
