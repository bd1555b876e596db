"""The OPC UA outbox, the last published values and the bridge's own status."""

from __future__ import annotations

from django.db import models


class OutboxKind(models.TextChoices):
    VALUE = "value", "Value (latest wins)"
    EVENT = "event", "Job life-cycle event (never coalesced)"
    STRUCTURE = "structure", "Machine added, renamed or removed"


class OutboxEntry(models.Model):
    """One change waiting for (or delivered to) OPC UA; the bridge delivers in ``sequence`` order."""

    sequence = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=255, help_text="Path below Objects/LabMES, e.g. Machines/<uuid>/Status")
    kind = models.CharField(max_length=16, choices=OutboxKind.choices, default=OutboxKind.VALUE)
    value = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "outbox entries"
        indexes = [
            models.Index(fields=["delivered_at", "sequence"], name="opcua_outbox_pending"),
            models.Index(fields=["key", "delivered_at"], name="opcua_outbox_key"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.key} = {self.value!r}"


class PublishedValue(models.Model):
    """The last value handed to the outbox per variable: change detection survives restarts."""

    key = models.CharField(max_length=255, unique=True)
    value = models.JSONField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}"


class BridgeStatus(models.Model):
    """One row, written by the running bridge process, read by health checks and the admin."""

    SINGLETON_ID = 1

    mode = models.CharField(max_length=16, blank=True)
    endpoint = models.CharField(max_length=255, blank=True)
    connected = models.BooleanField(default=False)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "bridge status"

    def __str__(self) -> str:
        return f"OPC UA bridge ({self.mode or 'not running'})"
