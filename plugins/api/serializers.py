"""Shapes of the plugins API (for the schema; the views build plain dicts)."""

from __future__ import annotations

from rest_framework import serializers


class PluginSettingSerializer(serializers.Serializer):
    """One plugin-wide setting: its definition and current value. Secrets are write-only."""

    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField(help_text="str, int, float, bool, list or choice.")
    config_type = serializers.CharField(help_text='Always "P" (plugin-wide setting).')
    required = serializers.BooleanField()
    secret = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True, help_text="Always null for secret settings.")
    choices = serializers.ListField(child=serializers.JSONField(), required=False)
    min = serializers.JSONField(required=False, help_text="Lowest allowed number (int and float).")
    max = serializers.JSONField(required=False, help_text="Highest allowed number (int and float).")
    value = serializers.JSONField(
        allow_null=True, help_text="The typed value (the default when unset); always null for secrets."
    )
    is_set = serializers.BooleanField(help_text="A value is stored; otherwise the default applies.")
