"""Reads for notifications: a person's list, the unread count in the header, their preferences."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.catalogue import JOB_EVENTS, STAFF_EVENTS
from notifications.models import Notification
from notifications.services import preference_for, type_label


def notification_list(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, in_app=True)


def unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, in_app=True, read_at__isnull=True).count()


def preference_rows(*, user) -> list[dict]:
    """Every type this person may hear about, with their current choice."""
    types = list(JOB_EVENTS) + (list(STAFF_EVENTS) if user.is_staff else [])
    rows = []
    for event_type in types:
        in_app, email = preference_for(user=user, event_type=event_type)
        rows.append(
            {
                "type": str(event_type),
                "label": type_label(event_type),
                "in_app": in_app,
                "email": email,
                "digest": event_type in STAFF_EVENTS,
            }
        )
    return rows
