"""Material types, spools, which spool is loaded on which tool of which machine, and what each job used.

Jobs sit above this app: a deduction names its job by id only (no foreign key), so this app never
depends on ``jobs`` — not in imports, not in migrations.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

HEX_COLOUR = RegexValidator(r"^#[0-9A-Fa-f]{6}$", "a colour is written as #RRGGBB, e.g. #FF8800")
NOT_NEGATIVE = MinValueValidator(Decimal("0"))


class MaterialType(models.Model):
    """PLA, PETG, ABS, TPU, resin…: what a slicer calls the filament, and what converts length to grams."""

    name = models.CharField(max_length=50, help_text="As slicers write it in filament_type, e.g. PETG.")
    density = models.DecimalField(
        max_digits=5, decimal_places=3, validators=[MinValueValidator(Decimal("0.1"))], help_text="g/cm³"
    )
    diameter = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.75"),
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text="Filament diameter in mm (1.75 or 2.85).",
    )
    low_stock_grams = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        default=Decimal("250"),
        validators=[NOT_NEGATIVE],
        help_text="Warn when the lab's remaining grams of this material fall below this.",
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="material_type_name_unique_ci"),
            models.CheckConstraint(condition=models.Q(density__gt=0), name="material_type_density_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Spool(models.Model):
    material = models.ForeignKey(MaterialType, on_delete=models.PROTECT, related_name="spools")
    colour_name = models.CharField(max_length=50, blank=True)
    colour_hex = models.CharField(max_length=7, blank=True, validators=[HEX_COLOUR])
    vendor = models.CharField(max_length=100, blank=True)
    initial_grams = models.DecimalField(max_digits=9, decimal_places=2, validators=[NOT_NEGATIVE])
    remaining_grams = models.DecimalField(max_digits=9, decimal_places=2, validators=[NOT_NEGATIVE])
    lot = models.CharField(max_length=100, blank=True)
    cost_per_kg = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, validators=[NOT_NEGATIVE]
    )
    location = models.CharField(max_length=100, blank=True, help_text="Shelf or drawer while not loaded.")
    label_id = models.CharField(
        max_length=64, blank=True, help_text="Barcode/QR label printed on the spool (unique when set)."
    )
    archived = models.BooleanField(default=False, help_text="Used up or thrown away; kept for history.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["material__name", "colour_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining_grams__gte=0), name="spool_remaining_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(initial_grams__gte=0), name="spool_initial_not_negative"
            ),
            models.UniqueConstraint(
                fields=["label_id"], condition=~models.Q(label_id=""), name="spool_label_unique"
            ),
        ]

    def __str__(self) -> str:
        colour = f" {self.colour_name}" if self.colour_name else ""
        return f"#{self.pk} {self.material.name}{colour} ({self.remaining_grams:.0f} g)"

    @property
    def label(self) -> str:
        return self.label_id or f"SPOOL-{self.pk:06d}"


class SpoolLoad(models.Model):
    """A spool on a tool of a machine, from ``loaded_at`` until ``unloaded_at`` (NULL: still loaded)."""

    spool = models.ForeignKey(Spool, on_delete=models.PROTECT, related_name="loads")
    machine = models.ForeignKey(
        "machines.MachineConfig", on_delete=models.CASCADE, related_name="spool_loads"
    )
    tool = models.PositiveSmallIntegerField(default=0, help_text="Extruder index: T0 is 0.")
    loaded_at = models.DateTimeField(default=timezone.now)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unloaded_at = models.DateTimeField(null=True, blank=True)
    unloaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-loaded_at", "-id"]
        constraints = [
            # A spool is in one place at a time, and a tool holds one spool at a time.
            models.UniqueConstraint(
                fields=["spool"], condition=models.Q(unloaded_at__isnull=True), name="spool_loaded_once"
            ),
            models.UniqueConstraint(
                fields=["machine", "tool"],
                condition=models.Q(unloaded_at__isnull=True),
                name="tool_holds_one_spool",
            ),
        ]
        indexes = [models.Index(fields=["machine", "unloaded_at"], name="spool_load_current")]

    def __str__(self) -> str:
        return f"spool {self.spool_id} on {self.machine_id} T{self.tool}"


class SpoolDeduction(models.Model):
    """What one job took from one spool. Unique per (job, tool): the ledger that makes accounting run once."""

    job_id = models.UUIDField(db_index=True)
    tool = models.PositiveSmallIntegerField(default=0)
    spool = models.ForeignKey(
        Spool, on_delete=models.PROTECT, null=True, blank=True, related_name="deductions"
    )
    machine = models.ForeignKey(
        "machines.MachineConfig", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    grams = models.DecimalField(max_digits=9, decimal_places=2, validators=[NOT_NEGATIVE])
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["job_id", "tool"], name="one_deduction_per_job_tool")]

    def __str__(self) -> str:
        return f"job {self.job_id} T{self.tool}: {self.grams} g"
