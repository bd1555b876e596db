"""Machine configuration: what the lab has set up. Live state lives in the cache (see state.py)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class MachineConfig(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    machine_type = models.CharField(max_length=100, help_text="Slug of the machine type, e.g. printer-3d.")
    driver = models.CharField(max_length=100, help_text="Slug of the driver that talks to this machine.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "machine"

    def __str__(self) -> str:
        return self.name


class MachineSetting(models.Model):
    class ConfigType(models.TextChoices):
        MACHINE = "M", "Machine type setting"
        DRIVER = "D", "Driver setting"

    machine = models.ForeignKey(MachineConfig, on_delete=models.CASCADE, related_name="settings")
    key = models.CharField(max_length=100)
    value = models.TextField(blank=True)
    config_type = models.CharField(max_length=1, choices=ConfigType.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["machine", "config_type", "key"], name="unique_machine_setting"),
        ]

    def __str__(self) -> str:
        return f"{self.machine}: {self.key}"


class MachineState(models.Model):
    """The last known runtime state, written when it changes; served when the cache has lost it."""

    machine = models.OneToOneField(
        MachineConfig, on_delete=models.CASCADE, primary_key=True, related_name="state"
    )
    status = models.IntegerField(null=True, blank=True)
    status_text = models.CharField(max_length=500, blank=True)
    properties = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)
    initialized = models.BooleanField(default=False)
    restart_required = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "machine state"

    def __str__(self) -> str:
        return f"{self.machine_id}: {self.status}"


class MachineControlLog(models.Model):
    """Every operator control sent to a machine (or refused), with who asked: the audit trail."""

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused"
        FAILED = "failed", "Failed at the printer"

    machine = models.ForeignKey(MachineConfig, on_delete=models.CASCADE, related_name="control_log")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    control = models.CharField(max_length=20)
    params = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "machine control"

    def __str__(self) -> str:
        return f"{self.username}: {self.control} on {self.machine_id} ({self.outcome})"
