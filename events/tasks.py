"""Thin task wrappers (mes.engine runs them on django-q2 or Celery)."""

from events import services
from mes.engine import coalesced_started, task


@task
def events_dispatch() -> dict[str, int]:
    coalesced_started("events.dispatch")
    return services.events_dispatch()


@task
def events_prune() -> int:
    return services.events_prune()
