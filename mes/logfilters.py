"""Keep the console readable: periodic housekeeping logs at DEBUG, expected refusals without tracebacks.

Celery (worker and beat) and django-q2 log every task they send, receive and finish at INFO; with
sweeps every few seconds that was two thirds of the console. The filter lowers those records to DEBUG
when they name a periodic task of the schedule (mes.engine), and django-q2's bare "Enqueued" line
always. Everything else, including failures of the same tasks, keeps its level. Written by hand:
neither library can set a level per task.
"""

from __future__ import annotations

import logging

TASK_LOGGERS = ("celery.beat", "celery.app.trace", "celery.worker.strategy", "django-q")


def _periodic_tasks() -> tuple[str, ...]:
    from django.apps import apps

    if not apps.ready:
        return ()
    from mes.engine import schedule  # inside: LOGGING loads this module before the app registry is ready

    return tuple(entry.task for entry in schedule().entries())


class PeriodicTaskChatter(logging.Filter):
    """Lower INFO records about periodic tasks to DEBUG, and drop them unless DEBUG is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith(TASK_LOGGERS):
            return True
        message = record.getMessage()
        routine = record.name == "django-q" and message.startswith("Enqueued [")
        if not routine and not any(task in message for task in _periodic_tasks()):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class ExpectedRefusals(logging.Filter):
    """A 403 or 404 is an answer, not a fault: log its one line without the exception's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", None) in {403, 404}:
            record.exc_info = None
            record.exc_text = None
        return True
