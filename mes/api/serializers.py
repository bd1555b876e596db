from __future__ import annotations

from rest_framework import serializers

from mes.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "prefix",
            "name",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "active",
        ]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    auth = serializers.CharField(help_text="'session' or 'token'")
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
