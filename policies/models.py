"""Who may print where, and when: trainings and who holds them, opening hours and closures, quotas.

Jobs sit above this app and read it (``jobs`` imports ``policies``, never the other way); what this app
needs to know about jobs (print hours and grams used, for quotas) reaches it through the usage
provider ``jobs`` registers at start-up (``policies.selectors.set_usage_provider``).
Every stored time is UTC; opening hours are wall-clock times in ``settings.TIME_ZONE``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower


class Training(models.Model):
    """A course a student must have taken before using some machines, e.g. "FDM basics"."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    given_by = models.CharField(
        max_length=200,
        blank=True,
        help_text="Who gives it and how to reach them, e.g. 'Dr. Ada Byron, room 2.14'.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="training_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class TrainingRequirement(models.Model):
    """A training needed for every machine of a type (slug such as ``printer-3d``) or for one machine."""

    training = models.ForeignKey(Training, on_delete=models.CASCADE, related_name="requirements")
    machine_type = models.CharField(
        max_length=100,
        blank=True,
        help_text="Machine type slug (e.g. printer-3d); empty when a machine is named.",
    )
    machine = models.ForeignKey(
        "machines.MachineConfig", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["training__name", "machine_type"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(machine__isnull=True) & ~models.Q(machine_type=""))
                | (models.Q(machine__isnull=False) & models.Q(machine_type="")),
                name="training_requirement_type_xor_machine",
            ),
        ]

    def __str__(self) -> str:
        target = self.machine.name if self.machine_id else f"every {self.machine_type}"
        return f"{self.training} for {target}"

    def clean(self):
        if bool(self.machine_type) == bool(self.machine_id):
            raise ValidationError("name either a machine type or a machine")


class TrainingRecord(models.Model):
    """A user completed a training. Records are never replaced: a renewal is a new record."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_records"
    )
    training = models.ForeignKey(Training, on_delete=models.PROTECT, related_name="records")
    completed_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True, help_text="Empty: never expires.")
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trainer_name = models.CharField(max_length=200, blank=True, help_text="When the trainer has no account.")
    notes = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-completed_on", "-id"]
        indexes = [models.Index(fields=["user", "training"], name="training_record_user")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__isnull=True)
                | models.Q(expires_on__gte=models.F("completed_on")),
                name="training_record_expires_after_completion",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.training} ({self.completed_on})"

    @property
    def trainer_display(self) -> str:
        return self.trainer.get_username() if self.trainer_id else self.trainer_name


class MachinePolicy(models.Model):
    """Per machine: may it run while nobody is in the lab? Machines without a row are attended-only."""

    machine = models.OneToOneField("machines.MachineConfig", on_delete=models.CASCADE, related_name="+")
    unattended_allowed = models.BooleanField(
        default=False, help_text="May print outside opening hours (nobody there to clear a failure)."
    )

    class Meta:
        verbose_name_plural = "machine policies"

    def __str__(self) -> str:
        return f"{self.machine}: {'unattended allowed' if self.unattended_allowed else 'attended only'}"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class OpeningHours(models.Model):
    """One interval the lab is staffed on a weekday, wall-clock time in ``TIME_ZONE``; several per day allowed."""

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes__gt=models.F("opens")), name="opening_hours_order"
            ),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="opening_hours_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self):
        if self.opens is not None and self.closes is not None and self.closes <= self.opens:
            raise ValidationError("the lab must close after it opens (same day)")


class Closure(models.Model):
    """Dates the lab is closed (holidays), both included, whatever the opening hours say."""

    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")), name="closure_order"
            ),
        ]

    def __str__(self) -> str:
        return f"closed {self.start_date}-{self.end_date} {self.reason}".strip()

    def clean(self):
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError("a closure ends on or after the day it starts")


class Quota(models.Model):
    """A limit of print hours and/or grams per week or per term, for one user or for each member of a group."""

    class Period(models.TextChoices):
        WEEK = "week", "Week (Monday to Sunday)"
        TERM = "term", "Term (start to end date)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="print_quotas"
    )
    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    period = models.CharField(max_length=4, choices=Period.choices, default=Period.WEEK)
    term_start = models.DateField(null=True, blank=True)
    term_end = models.DateField(null=True, blank=True)
    max_hours = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    max_grams = models.DecimalField(
        max_digits=9, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        ordering = ["period", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=True) & models.Q(group__isnull=False))
                | (models.Q(user__isnull=False) & models.Q(group__isnull=True)),
                name="quota_user_xor_group",
            ),
            models.CheckConstraint(
                condition=models.Q(period="week")
                | (
                    models.Q(term_start__isnull=False)
                    & models.Q(term_end__isnull=False)
                    & models.Q(term_end__gte=models.F("term_start"))
                ),
                name="quota_term_dates",
            ),
            models.CheckConstraint(
                condition=models.Q(max_hours__isnull=False) | models.Q(max_grams__isnull=False),
                name="quota_has_a_limit",
            ),
        ]

    def __str__(self) -> str:
        who = self.user if self.user_id else f"group {self.group}"
        limits = " and ".join(
            part
            for part in (
                f"{self.max_hours:g} h" if self.max_hours is not None else "",
                f"{self.max_grams:g} g" if self.max_grams is not None else "",
            )
            if part
        )
        return f"{who}: {limits} per {self.period}"

    def clean(self):
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError("a quota is for a user or for a group")
        if self.period == self.Period.TERM and not (self.term_start and self.term_end):
            raise ValidationError("a term quota needs the term's start and end dates")
        if self.term_start and self.term_end and self.term_end < self.term_start:
            raise ValidationError("the term ends after it starts")
        if self.max_hours is None and self.max_grams is None:
            raise ValidationError("set print hours, grams or both")


class JobOverride(models.Model):
    """Staff let one job start on an attended-only machine outside opening hours (or too close to
    closing). Names its job by id only: jobs sit above this app."""

    job_id = models.UUIDField(unique=True)
    ignore_opening_hours = models.BooleanField(default=True)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.job_id}: {'ignores' if self.ignore_opening_hours else 'keeps'} opening hours"
