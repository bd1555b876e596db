"""Thin task wrappers (mes.engine runs them on django-q2 or Celery)."""

from mes.engine import coalesced_started, task
from webhooks import services


@task
def webhooks_deliver_due() -> int:
    coalesced_started("webhooks.deliver")
    return services.webhooks_deliver_due()
