from rest_framework import serializers

from webhooks.models import Attempt, Delivery, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Empty: every event type."
    )

    class Meta:
        model = Endpoint
        fields = ["id", "name", "url", "event_types", "active", "secret", "created_at"]
        read_only_fields = ["id", "secret", "created_at"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "started_at", "status_code", "response_ms", "error"]


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)
    event_id = serializers.UUIDField(source="event.id", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "endpoint", "event_id", "event_type", "state", "attempts", "next_attempt_at",
            "last_status", "last_error", "delivered_at", "created_at", "attempt_log",
        ]  # fmt: skip
        read_only_fields = fields
