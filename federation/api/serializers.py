from __future__ import annotations

from rest_framework import serializers

from federation.models import SCOPE_NAMES, FederationEvent, ForwardedJob, IncomingJob, Invitation, Partner
from federation.services.jobs import MAX_ESTIMATED_PRINT_SECONDS
from machines.models import MachineConfig
from mes.api.query import MAX_INT
from mes.outgoing import OutgoingURLRefused, check_outgoing_url


class PartnerSerializer(serializers.ModelSerializer):
    shared_machines = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    stopped = serializers.BooleanField(source="is_stopped", read_only=True)

    class Meta:
        model = Partner
        fields = [
            "id",
            "instance_id",
            "name",
            "well_known_url",
            "api_base_url",
            "inbox_url",
            "state",
            "requested_scopes",
            "scopes",
            "message",
            "requested_at",
            "decided_at",
            "jobs_per_day",
            "max_print_hours",
            "share_all_machines",
            "shared_machines",
            "shared_tags",
            "auto_accept",
            "on_stop",
            "outbound_state",
            "outbound_requested_scopes",
            "outbound_scopes",
            "outbound_quotas",
            "stopped",
            "stopped_at",
            "stopped_by",
            "stop_reason",
            "created_at",
        ]
        read_only_fields = fields


class PartnerApproveSerializer(serializers.Serializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_NAMES), allow_empty=False)
    jobs_per_day = serializers.IntegerField(
        min_value=0, max_value=MAX_INT, required=False, allow_null=True, default=None
    )
    max_print_hours = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=0, required=False, allow_null=True, default=None
    )
    share_all_machines = serializers.BooleanField(default=False)
    shared_machines = serializers.PrimaryKeyRelatedField(
        many=True, queryset=MachineConfig.objects.all(), required=False, default=list
    )
    shared_tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list
    )
    auto_accept = serializers.BooleanField(default=False)
    on_stop = serializers.ChoiceField(choices=Partner.OnStop.choices, default=Partner.OnStop.FINISH)


class FederationReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PartnerStopSerializer(FederationReasonSerializer):
    notify = serializers.BooleanField(
        default=True, help_text="Send a signed notice; false stops locally only (partner unreachable)."
    )


class PartnerStopResultSerializer(serializers.Serializer):
    partner = PartnerSerializer()
    notice = serializers.CharField()


class PartnerConnectSerializer(serializers.Serializer):
    base_url = serializers.URLField(help_text="The partner lab's base URL, e.g. https://mes.other-lab.org")
    code = serializers.CharField(max_length=200, allow_blank=True, help_text="Their invitation code.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_NAMES), allow_empty=False)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_base_url(self, value: str) -> str:
        try:
            check_outgoing_url(value)
        except OutgoingURLRefused as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class InvitationSerializer(serializers.ModelSerializer):
    usable = serializers.BooleanField(source="is_usable", read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "note", "created_at", "expires_at", "used_at", "used_by", "usable"]
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)


class InvitationCreatedSerializer(InvitationSerializer):
    code = serializers.CharField(read_only=True, help_text="Shown once; give it to the other lab.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "code"]
        read_only_fields = fields


class ForwardedJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ForwardedJob
        fields = [
            "id",
            "partner",
            "origin_job_id",
            "remote_state",
            "progress",
            "history",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class IncomingJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncomingJob
        fields = [
            "id",
            "partner",
            "origin_job_id",
            "name",
            "sha256",
            "size",
            "constraints",
            "requester_ref",
            "estimated_print_seconds",
            "state",
            "state_reason",
            "local_job_id",
            "printed_seconds",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class FederationEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = FederationEvent
        fields = [
            "id",
            "partner",
            "event_id",
            "job_ref",
            "sequence",
            "type",
            "payload",
            "created_at",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_error",
        ]
        read_only_fields = fields


# --- Partner-facing (signed) ----------------------------------------------------------------------


class ConnectionRequestSerializer(serializers.Serializer):
    instance_id = serializers.UUIDField()
    well_known_url = serializers.URLField(max_length=500)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_NAMES), allow_empty=False)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    invitation = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)


class ConnectionRequestAnswerSerializer(serializers.Serializer):
    state = serializers.CharField()
    instance_id = serializers.UUIDField()
    detail = serializers.CharField()


class InboxEventSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=FederationEvent.Type.choices)
    job_ref = serializers.CharField(allow_blank=True, required=False)
    sequence = serializers.IntegerField(min_value=1, max_value=MAX_INT)
    payload = serializers.DictField(required=False)


class InboxAnswerSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["applied", "duplicate", "stale"])
    detail = serializers.CharField()


class JobPutSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    gcode_base64 = serializers.CharField()
    sha256 = serializers.CharField(max_length=64)
    constraints = serializers.DictField(required=False)
    requester_ref = serializers.CharField(max_length=200, required=False, allow_blank=True)
    estimated_print_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_ESTIMATED_PRINT_SECONDS, required=False, allow_null=True
    )


class JobAnswerSerializer(serializers.Serializer):
    origin_job_id = serializers.UUIDField()
    state = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()


class RemoteMachineSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    machine_type = serializers.CharField()
    materials = serializers.ListField(child=serializers.CharField())
    nozzle_diameter = serializers.FloatField(allow_null=True)
    build_volume = serializers.DictField(child=serializers.FloatField(allow_null=True))
    tags = serializers.ListField(child=serializers.CharField())
    state = serializers.CharField()
    queue_length = serializers.IntegerField(allow_null=True)
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)


class PartnerStatsSerializer(serializers.Serializer):
    submitted = serializers.IntegerField()
    accepted = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    rejected = serializers.IntegerField()
    hours_printed = serializers.FloatField()
    success_rate = serializers.FloatField(allow_null=True)


class ForwardJobSerializer(serializers.Serializer):
    job = serializers.UUIDField(help_text="Id of one of our jobs (jobs.Job).")
    partner = serializers.UUIDField(help_text="Id of the partner lab (Partner.id).")
    estimated_print_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_ESTIMATED_PRINT_SECONDS, required=False, allow_null=True
    )


class DeliveredSerializer(serializers.Serializer):
    delivered = serializers.IntegerField()
