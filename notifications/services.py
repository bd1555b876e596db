"""Notification writes: the events consumer, preferences, e-mails (one by one and the staff digest).

An e-mail is sent at most once: a row is claimed (``sending``) in a committed write before the SMTP
conversation starts, and only a ``pending`` row is ever claimed. A worker that dies mid-send leaves
the row ``sending``; the sweep marks it ``failed`` with that reason instead of sending it again
(the in-app notification is there either way). Duplicate e-mails are what people complain about.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from events.models import Event
from events.types import all_types
from mes.engine import enqueue_coalesced
from notifications.catalogue import (
    DEFAULT_ON,
    DEFAULT_STAFF_ON,
    JOB_EVENTS,
    NOTIFIABLE,
    STAFF_EVENTS,
    describe,
)
from notifications.models import Notification, Preference

logger = logging.getLogger(__name__)


def _sending_stale_after() -> timedelta:
    """A claim older than this belongs to a worker that died mid-send (NOTIFICATIONS_SENDING_STALE)."""
    return timedelta(seconds=float(settings.NOTIFICATIONS_SENDING_STALE))


def preference_for(*, user, event_type: str) -> tuple[bool, bool]:
    """(in the app, by e-mail) for this person and type, saved or default."""
    saved = Preference.objects.filter(user=user, event_type=event_type).first()
    if saved is not None:
        return saved.in_app, saved.email
    default = DEFAULT_STAFF_ON if event_type in STAFF_EVENTS else DEFAULT_ON
    on = event_type in default and (user.is_staff or event_type not in STAFF_EVENTS)
    return on, on


def preferences_set(*, user, choices: dict[str, tuple[bool, bool]]) -> None:
    """Save (in_app, email) per event type; types nobody can be notified about are refused."""
    unknown = [t for t in choices if t not in NOTIFIABLE]
    if unknown:
        raise ValueError(f"cannot notify about {', '.join(unknown)}")
    staff_only = [t for t in choices if t in STAFF_EVENTS and not user.is_staff]
    if staff_only:
        raise ValueError(f"only lab staff receive {', '.join(staff_only)}")
    with transaction.atomic():
        for event_type, (in_app, email) in choices.items():
            Preference.objects.update_or_create(
                user=user, event_type=event_type, defaults={"in_app": bool(in_app), "email": bool(email)}
            )


def _recipients(event: Event) -> list:
    User = get_user_model()
    if event.type in JOB_EVENTS:
        if event.user_id is None:
            return []
        return list(User.objects.filter(pk=event.user_id, is_active=True))
    if event.type in STAFF_EVENTS:
        return list(User.objects.filter(is_staff=True, is_active=True))
    return []


def notification_event_handle(event: Event) -> None:
    """The events consumer (inside the receipt's transaction): one notification per person and event."""
    message = describe(event)
    rows = []
    for user in _recipients(event):
        in_app, email = preference_for(user=user, event_type=event.type)
        if not in_app and not email:
            continue
        if email and not user.email:
            email_state, error = Notification.Email.FAILED, "no e-mail address on the account"
        elif email:
            digest = event.type in STAFF_EVENTS
            email_state, error = (Notification.Email.DIGEST if digest else Notification.Email.PENDING), ""
        else:
            email_state, error = Notification.Email.NONE, ""
        rows.append(
            Notification(
                user=user,
                event=event,
                event_type=event.type,
                title=message.title[:300],
                body=message.body,
                url=message.url,
                in_app=in_app,
                email_state=email_state,
                email_error=error,
            )
        )
    if not rows:
        return
    Notification.objects.bulk_create(rows)
    if any(row.email_state == Notification.Email.PENDING for row in rows):
        enqueue_coalesced("notifications.tasks.notifications_send", key="notifications.send", ttl=30)


# --- e-mail -------------------------------------------------------------------------------------


def _site_url() -> str:
    return (getattr(settings, "MES_SITE_URL", "") or "").rstrip("/")


def _claim(ids: list[int], *, from_state: str) -> list[int]:
    """Move rows to ``sending`` (committed) before anything goes out; returns the ones we got."""
    now = timezone.now()
    got = []
    for pk in ids:
        if Notification.objects.filter(pk=pk, email_state=from_state).update(
            email_state=Notification.Email.SENDING, email_claimed_at=now
        ):
            got.append(pk)
    return got


def _finish(ids: list[int], *, error: str = "") -> None:
    if error:
        Notification.objects.filter(pk__in=ids).update(
            email_state=Notification.Email.FAILED, email_error=error
        )
    else:
        Notification.objects.filter(pk__in=ids).update(
            email_state=Notification.Email.SENT, email_sent_at=timezone.now(), email_error=""
        )


def _send(*, to: str, subject: str, template: str, context: dict, message_id: str) -> None:
    context = {"site_name": settings.MES_SITE_NAME, "site_url": _site_url(), **context}
    text = render_to_string(f"notifications/email/{template}.txt", context)
    html = render_to_string(f"notifications/email/{template}.html", context)
    mail = EmailMultiAlternatives(
        subject=f"[{settings.MES_SITE_NAME}] {subject}",
        body=text,
        to=[to],
        headers={"Message-ID": message_id},
    )
    mail.attach_alternative(html, "text/html")
    mail.send()


def _message_id(key: str) -> str:
    domain = (settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1] or "lab-mes.local").strip(">")
    return f"<{key}@{domain}>"


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notification's e-mail if it is still to send; False when another worker had it."""
    if not _claim([notification_id], from_state=Notification.Email.PENDING):
        return False
    notification = Notification.objects.select_related("user", "event").get(pk=notification_id)
    try:
        _send(
            to=notification.user.email,
            subject=notification.title,
            template="notification",
            context={"notification": notification, "user": notification.user},
            message_id=_message_id(f"notification-{notification.event.id}-{notification.user_id}"),
        )
    except (smtplib.SMTPException, OSError) as exc:  # recorded, never retried (no duplicates)
        logger.warning("e-mail for notification %s not sent: %s", notification_id, exc)
        _finish([notification_id], error=f"{type(exc).__name__}: {exc}"[:500])
        return False
    _finish([notification_id])
    logger.info(
        "e-mail sent to %s: %s",
        notification.user.get_username(),
        notification.title,
        extra={
            "event_id": str(notification.event.id),
            "job_id": str(notification.event.job_id or "") or None,
        },
    )
    return True


def _sweep_stale_claims() -> int:
    return Notification.objects.filter(
        email_state=Notification.Email.SENDING, email_claimed_at__lt=timezone.now() - _sending_stale_after()
    ).update(
        email_state=Notification.Email.FAILED,
        email_error="the worker stopped while sending; not sent again so that nobody gets it twice",
    )


def notifications_send(*, limit: int = 200) -> int:
    """Every e-mail still to send (the task runs after each event and every few seconds)."""
    _sweep_stale_claims()
    ids = list(
        Notification.objects.filter(email_state=Notification.Email.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if notification_email_send(notification_id=pk))


def notifications_digest() -> int:
    """The hourly digest: per staff member, the fleet events collected since the last one, one e-mail."""
    sent = 0
    users = get_user_model().objects.filter(
        pk__in=Notification.objects.filter(email_state=Notification.Email.DIGEST).values("user")
    )
    for user in users:
        ids = list(
            Notification.objects.filter(user=user, email_state=Notification.Email.DIGEST).values_list(
                "pk", flat=True
            )
        )
        claimed = _claim(ids, from_state=Notification.Email.DIGEST)
        if not claimed:
            continue
        items = list(Notification.objects.filter(pk__in=claimed).order_by("created_at"))
        try:
            _send(
                to=user.email,
                subject=f"{len(items)} machine problem(s) in the last hour",
                template="digest",
                context={"user": user, "items": items},
                message_id=_message_id(f"digest-{user.pk}-{min(claimed)}-{max(claimed)}"),
            )
        except (smtplib.SMTPException, OSError) as exc:  # as above: recorded, not repeated
            logger.warning("digest for %s not sent: %s", user.get_username(), exc)
            _finish(claimed, error=f"{type(exc).__name__}: {exc}"[:500])
            continue
        _finish(claimed)
        sent += 1
    return sent


def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the person's own notifications read (all unread ones when ``ids`` is None)."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def type_label(event_type: str) -> str:
    return all_types().get(event_type, event_type)
