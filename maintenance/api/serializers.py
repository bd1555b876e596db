from __future__ import annotations

from rest_framework import serializers

from maintenance.models import (
    MachineCounters,
    MaintenanceMode,
    MaintenancePlan,
    MaintenanceRecord,
    OutOfOrderReport,
)


class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = MaintenancePlan
        fields = [
            "id", "name", "instructions", "machine_type", "machine", "every_print_hours", "every_days",
            "due_soon_percent", "auto_maintenance", "active", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]

    def validate(self, attrs):
        machine = attrs.get("machine", getattr(self.instance, "machine", None))
        machine_type = attrs.get("machine_type", getattr(self.instance, "machine_type", ""))
        if bool(machine) == bool(machine_type):
            raise serializers.ValidationError("give either machine_type or machine (exactly one)")
        hours = attrs.get("every_print_hours", getattr(self.instance, "every_print_hours", None))
        days = attrs.get("every_days", getattr(self.instance, "every_days", None))
        if not hours and not days:
            raise serializers.ValidationError("give every_print_hours, every_days or both")
        return attrs


class CountersSerializer(serializers.ModelSerializer):
    print_hours = serializers.FloatField(read_only=True)
    service_print_hours = serializers.FloatField(read_only=True)

    class Meta:
        model = MachineCounters
        fields = [
            "commissioned_at", "print_hours", "filament_grams", "jobs", "failed_jobs", "last_service_at",
            "service_print_hours", "service_filament_grams", "service_jobs", "service_failed_jobs",
        ]  # fmt: skip
        read_only_fields = fields


class ModeSerializer(serializers.ModelSerializer):
    # Null while the maintenance is open (ended_by), when it started by itself (started_by) or when
    # the person's account was deleted.
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    ended_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = MaintenanceMode
        fields = [
            "id",
            "machine",
            "reason",
            "automatic",
            "plan",
            "started_by",
            "started_at",
            "ended_by",
            "ended_at",
        ]
        read_only_fields = fields


class RecordSerializer(serializers.ModelSerializer):
    done_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    plan_name = serializers.CharField(source="plan.name", read_only=True, default="")

    class Meta:
        model = MaintenanceRecord
        fields = ["id", "machine", "plan", "plan_name", "done_by", "done_at", "notes", "print_seconds_at"]
        read_only_fields = fields


class ReportSerializer(serializers.ModelSerializer):
    reported_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = OutOfOrderReport
        fields = [
            "id", "machine", "reason", "reported_by", "reported_at", "resolved_by", "resolved_at", "resolution",
        ]  # fmt: skip
        read_only_fields = fields


class PlanStatusSerializer(serializers.Serializer):
    plan = serializers.IntegerField(source="plan.pk")
    name = serializers.CharField(source="plan.name")
    status = serializers.ChoiceField(choices=["ok", "due", "overdue"])
    hours_since = serializers.FloatField()
    days_since = serializers.FloatField()
    last_done_at = serializers.DateTimeField(allow_null=True)
    detail = serializers.CharField()


class MachineMaintenanceSerializer(serializers.Serializer):
    machine = serializers.UUIDField()
    machine_name = serializers.CharField()
    in_maintenance = serializers.BooleanField()
    maintenance = ModeSerializer(allow_null=True)
    counters = CountersSerializer()
    plans = PlanStatusSerializer(many=True)
    open_reports = ReportSerializer(many=True)


class MaintenanceReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class CompleteSerializer(serializers.Serializer):
    plan = serializers.IntegerField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    end_maintenance = serializers.BooleanField(default=True)


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(required=False, allow_blank=True, default="")
