"""``make run``'s example: the admin hears about their prints by e-mail, printed on the worker's console."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from events.types import EventType
from notifications.models import Preference

DEMO_EMAIL_EVENTS = (
    EventType.JOB_ACCEPTED,
    EventType.JOB_STARTED,
    EventType.JOB_FINISHED,
    EventType.JOB_FAILED,
)


def seed_demo_notifications() -> int:
    """Superusers get an address (``<name>@localhost``) and e-mails for accepted, started, finished and
    failed prints, so the first job a newcomer submits shows e-mails in the log within seconds.
    Idempotent; a saved choice is left as it is. Returns the number of users seeded."""
    seeded = 0
    for user in get_user_model().objects.filter(is_superuser=True, is_active=True):
        if not user.email:
            user.email = f"{user.get_username()}@localhost"
            user.save(update_fields=["email"])
        for event_type in DEMO_EMAIL_EVENTS:
            Preference.objects.get_or_create(
                user=user, event_type=event_type, defaults={"in_app": True, "email": True}
            )
        seeded += 1
    return seeded
