"""Shapes of the plugins API (for the schema; the views build plain dicts)."""

from __future__ import annotations

from rest_framework import serializers


class SettingDefinitionSerializer(serializers.Serializer):
    """A setting a machine type, driver or plugin declares (no value)."""

    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField(help_text="str, int, float, bool, list or choice.")
    config_type = serializers.CharField(help_text='"M" machine type, "D" driver, "P" plugin-wide.')
    required = serializers.BooleanField()
    secret = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True, help_text="Always null for secret settings.")
    choices = serializers.ListField(child=serializers.JSONField(), required=False)
    min = serializers.JSONField(required=False)
    max = serializers.JSONField(required=False)


class PluginSettingSerializer(SettingDefinitionSerializer):
    """One plugin-wide setting: its definition and current value. Secrets are write-only."""

    value = serializers.JSONField(
        allow_null=True, help_text="The typed value (the default when unset); always null for secrets."
    )
    is_set = serializers.BooleanField(help_text="A value is stored; otherwise the default applies.")


class RegistryErrorSerializer(serializers.Serializer):
    """A plugin, machine type or driver that could not be loaded, and why."""

    plugin = serializers.CharField()
    reason = serializers.CharField()
    source = serializers.CharField()


class PluginSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    author = serializers.CharField()
    description = serializers.CharField()
    mes_version = serializers.CharField(help_text="The Lab MES versions the plugin supports.")
    mixins = serializers.ListField(child=serializers.CharField())
    builtin = serializers.BooleanField()
    source = serializers.CharField()
    active = serializers.BooleanField()
    errors = RegistryErrorSerializer(many=True)


class PluginListSerializer(serializers.Serializer):
    plugins = PluginSerializer(many=True)
    errors = RegistryErrorSerializer(many=True, help_text="Including plugins that failed to load.")
