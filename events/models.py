"""The one transactional outbox of domain events, and each consumer's receipt per event."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """Something that happened, written in the same transaction as the change that caused it."""

    sequence = models.BigAutoField(primary_key=True)
    id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64, db_index=True)
    version = models.PositiveSmallIntegerField(default=1, help_text="Version of this type's payload shape.")
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=16, blank=True, help_text="user, scheduler, reconciler, ...")
    actor = models.CharField(max_length=150, blank=True, help_text="User name when a person did it.")
    # Subjects (plain ids: this app sits below machines and jobs and knows neither).
    machine_id = models.UUIDField(null=True, blank=True, db_index=True)
    job_id = models.UUIDField(null=True, blank=True, db_index=True)
    user_id = models.IntegerField(null=True, blank=True, help_text="The person concerned (job owner).")
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.type}"

    def as_message(self) -> dict:
        """The versioned JSON shape webhooks and logs carry."""
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "actor": {"kind": self.actor_kind, "name": self.actor},
            "machine_id": str(self.machine_id) if self.machine_id else None,
            "job_id": str(self.job_id) if self.job_id else None,
            "data": self.payload,
        }


class Receipt(models.Model):
    """Consumer ``consumer`` has handled the event: written in the transaction that handled it."""

    consumer = models.CharField(max_length=32)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="receipts")
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consumer", "event"], name="events_receipt_once")]

    def __str__(self) -> str:
        return f"{self.consumer} handled {self.event_id}"
