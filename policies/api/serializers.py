from __future__ import annotations

import copy
from datetime import date

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from policies.models import (
    Closure,
    JobOverride,
    MachinePolicy,
    OpeningHours,
    Quota,
    Training,
    TrainingRecord,
    TrainingRequirement,
)
from policies.selectors import lab_today

# Dates far outside any lab's life are typos (and would overflow date arithmetic): refuse them.
EARLIEST, LATEST = date(2000, 1, 1), date(2200, 12, 31)


# Validates with the model's own ``full_clean`` (fields, ``clean()`` and every database constraint), so
# a bad combination is a 400 naming the problem, never a database error. (A comment, not a docstring:
# the schema would show it as every subclass's description.)
class CleanModelSerializer(serializers.ModelSerializer):
    def validate(self, attrs):
        for name, value in attrs.items():
            if isinstance(value, date) and not EARLIEST <= value <= LATEST:
                raise serializers.ValidationError({name: [f"must be between {EARLIEST} and {LATEST}"]})
        probe = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(probe, name, value)
        try:
            probe.full_clean()
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            detail = {("non_field_errors" if k == "__all__" else k): v for k, v in detail.items()}
            raise serializers.ValidationError(detail) from exc
        return attrs


class TrainingSerializer(CleanModelSerializer):
    required_for = serializers.SerializerMethodField(help_text="Machine types and machines that need it.")

    class Meta:
        model = Training
        fields = ["id", "name", "description", "given_by", "required_for"]

    def get_required_for(self, obj) -> list[str]:
        return [
            r.machine.name if r.machine_id else f"every {r.machine_type}"
            for r in obj.requirements.select_related("machine")
        ]


class TrainingRequirementSerializer(CleanModelSerializer):
    class Meta:
        model = TrainingRequirement
        fields = ["id", "training", "machine_type", "machine"]


class TrainingRecordSerializer(CleanModelSerializer):
    username = serializers.CharField(source="user.get_username", read_only=True)
    training_name = serializers.CharField(source="training.name", read_only=True)
    trainer_display = serializers.CharField(read_only=True)
    valid = serializers.SerializerMethodField(help_text="Completed and not expired today.")

    class Meta:
        model = TrainingRecord
        fields = [
            "id", "user", "username", "training", "training_name", "completed_on", "expires_on", "trainer",
            "trainer_name", "trainer_display", "notes", "valid", "recorded_at",
        ]  # fmt: skip
        read_only_fields = ["recorded_at"]

    def get_valid(self, obj) -> bool:
        today = lab_today()
        return obj.completed_on <= today and (obj.expires_on is None or obj.expires_on >= today)


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "09:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A wall-clock time in the lab's time zone, "HH:MM" (no offset: it is not an instant)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class OpeningHoursSerializer(CleanModelSerializer):
    opens = WallClockTimeField(help_text="Opening time, HH:MM in the lab's time zone (TIME_ZONE).")
    closes = WallClockTimeField(help_text="Closing time, HH:MM, later the same day.")

    class Meta:
        model = OpeningHours
        fields = ["id", "weekday", "opens", "closes"]


class ClosureSerializer(CleanModelSerializer):
    class Meta:
        model = Closure
        fields = ["id", "start_date", "end_date", "reason"]


class QuotaSerializer(CleanModelSerializer):
    class Meta:
        model = Quota
        fields = ["id", "user", "group", "period", "term_start", "term_end", "max_hours", "max_grams"]


class JobOverrideSerializer(CleanModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = JobOverride
        fields = ["id", "job_id", "ignore_opening_hours", "reason", "created_by", "created_at"]
        read_only_fields = ["created_by", "created_at"]


class MachinePolicySerializer(serializers.ModelSerializer):
    machine = serializers.UUIDField(read_only=True)
    machine_name = serializers.CharField(read_only=True)
    unattended_allowed = serializers.BooleanField(help_text="May print outside opening hours.")

    class Meta:
        model = MachinePolicy
        fields = ["machine", "machine_name", "unattended_allowed"]
        read_only_fields = ["machine"]


class TrainingCsvUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV: username, training, completed_on[, trainer, expires_on, notes]."
    )


class QuotaLeftSerializer(serializers.Serializer):
    period = serializers.CharField()
    source = serializers.CharField(help_text="'your quota' or 'group <name>'.")
    starts = serializers.DateTimeField()
    ends = serializers.DateTimeField()
    max_hours = serializers.FloatField(allow_null=True)
    max_grams = serializers.FloatField(allow_null=True)
    used_hours = serializers.FloatField()
    used_grams = serializers.FloatField()
    hours_left = serializers.FloatField(allow_null=True)
    grams_left = serializers.FloatField(allow_null=True)


class MyPoliciesSerializer(serializers.Serializer):
    trainings = TrainingRecordSerializer(many=True)
    quotas = QuotaLeftSerializer(many=True)
    lab_open = serializers.BooleanField(help_text="Is the lab open now?")
    next_opening = serializers.DateTimeField(allow_null=True, help_text="Now when open; null: none known.")
