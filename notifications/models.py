"""What each person wants to hear about, and what they were told (in the app and by e-mail)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Preference(models.Model):
    """One event type for one person. No row = the defaults in notifications.catalogue."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=64)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=False, help_text="For staff fleet events: the hourly digest.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event_type"], name="notifications_pref_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.event_type}"


class Notification(models.Model):
    class Email(models.TextChoices):
        NONE = "none", "No e-mail"
        PENDING = "pending", "To send"
        DIGEST = "digest", "Waits for the digest"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Not sent"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(max_length=10, choices=Email.choices, default=Email.NONE)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="notifications_once_per_event")]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notifications_unread"),
            models.Index(fields=["email_state"], name="notifications_email_state"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"
