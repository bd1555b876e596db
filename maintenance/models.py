"""Wear counters per machine, maintenance plans, the work done, maintenance mode and out-of-order reports.

Counters grow from what machines report through the jobs that end on them (``MachineUsage`` is the
per-job ledger that makes counting idempotent); this app never imports ``jobs``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class MachineCounters(models.Model):
    """Totals since commissioning, and the same since the last completed service."""

    machine = models.OneToOneField(
        "machines.MachineConfig", on_delete=models.CASCADE, primary_key=True, related_name="counters"
    )
    commissioned_at = models.DateTimeField(default=timezone.now)
    print_seconds = models.BigIntegerField(default=0)
    filament_grams = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    jobs = models.PositiveIntegerField(default=0)
    failed_jobs = models.PositiveIntegerField(default=0)
    last_service_at = models.DateTimeField(null=True, blank=True)
    service_print_seconds = models.BigIntegerField(default=0)
    service_filament_grams = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    service_jobs = models.PositiveIntegerField(default=0)
    service_failed_jobs = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "machine counters"

    def __str__(self) -> str:
        return f"{self.machine_id}: {self.print_seconds / 3600:.1f} h, {self.jobs} jobs"

    @property
    def print_hours(self) -> float:
        return self.print_seconds / 3600

    @property
    def service_print_hours(self) -> float:
        return self.service_print_seconds / 3600


class MachineUsage(models.Model):
    """One ended job's contribution to its machine's counters; unique per job so it counts once."""

    job_id = models.UUIDField(unique=True)
    machine = models.ForeignKey("machines.MachineConfig", on_delete=models.CASCADE, related_name="usage")
    print_seconds = models.BigIntegerField(default=0)
    filament_grams = models.DecimalField(max_digits=9, decimal_places=2, default=0)
    failed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.job_id} on {self.machine_id}"


class MaintenancePlan(models.Model):
    """Recurring work for a machine type or one machine: every N print hours and/or every N days."""

    name = models.CharField(max_length=100, help_text='e.g. "Lubricate rods"')
    instructions = models.TextField(blank=True)
    machine_type = models.CharField(
        max_length=100, blank=True, help_text="Applies to every machine of this type…"
    )
    machine = models.ForeignKey(
        "machines.MachineConfig",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="maintenance_plans",
        help_text="…or to this one machine.",
    )
    every_print_hours = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Due after this many print hours."
    )
    every_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Due after this many days."
    )
    due_soon_percent = models.PositiveSmallIntegerField(
        default=90, help_text="Shown as due from this share of the interval on; overdue past 100 %."
    )
    auto_maintenance = models.BooleanField(
        default=False, help_text="Put the machine into maintenance when the plan is overdue."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(machine__isnull=False) & models.Q(machine_type=""))
                | (models.Q(machine__isnull=True) & ~models.Q(machine_type="")),
                name="plan_for_type_xor_machine",
            ),
            models.CheckConstraint(
                condition=models.Q(every_print_hours__isnull=False) | models.Q(every_days__isnull=False),
                name="plan_has_an_interval",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MaintenanceRecord(models.Model):
    """Work done on a machine: who, what, when, and the counters at that moment (the plan's new basis)."""

    machine = models.ForeignKey(
        "machines.MachineConfig", on_delete=models.CASCADE, related_name="maintenance_records"
    )
    plan = models.ForeignKey(
        MaintenancePlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="records"
    )
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    done_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True)
    print_seconds_at = models.BigIntegerField(default=0, help_text="Machine print seconds when done.")

    class Meta:
        ordering = ["-done_at", "-id"]
        indexes = [models.Index(fields=["machine", "plan", "-done_at"], name="maint_record_latest")]

    def __str__(self) -> str:
        return f"{self.plan or 'service'} on {self.machine_id} at {self.done_at:%Y-%m-%d}"


class MaintenanceMode(models.Model):
    """A machine out of scheduling (row exists and ``ended_at`` is NULL). History is kept."""

    machine = models.ForeignKey(
        "machines.MachineConfig", on_delete=models.CASCADE, related_name="maintenance_modes"
    )
    reason = models.TextField()
    automatic = models.BooleanField(default=False)
    plan = models.ForeignKey(
        MaintenancePlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine"], condition=models.Q(ended_at__isnull=True), name="one_open_maintenance"
            )
        ]

    def __str__(self) -> str:
        return f"{self.machine_id} in maintenance: {self.reason}"


class OutOfOrderReport(models.Model):
    """Staff say a machine is broken; while open, the machine is in maintenance."""

    machine = models.ForeignKey(
        "machines.MachineConfig", on_delete=models.CASCADE, related_name="out_of_order_reports"
    )
    reason = models.TextField()
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reported_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-reported_at"]

    def __str__(self) -> str:
        return f"{self.machine_id} out of order: {self.reason[:40]}"
