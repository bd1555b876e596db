"""Thin task wrappers (mes.engine runs them on django-q2 or Celery)."""

from mes.engine import coalesced_started, task
from notifications import services


@task
def notifications_send() -> int:
    coalesced_started("notifications.send")
    return services.notifications_send()


@task
def notifications_digest() -> int:
    return services.notifications_digest()
