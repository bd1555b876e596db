from __future__ import annotations

from typing import Any

from rest_framework import serializers

from machines.models import MachineConfig
from machines.registry import MachineRegistry
from machines.state import LiveState
from machines.status import describe_status


def live_state_dict(config: MachineConfig, state: LiveState, registry: MachineRegistry) -> dict[str, Any]:
    """The live part of a machine as the API shows it: status with label/colour/class, errors, staleness."""
    machine = registry.get_machine(config.pk)
    type_cls = registry.get_machine_type(config.machine_type)
    code = state.status
    if code is None and type_cls is not None:
        code = int(type_cls.default_machine_status)
    config_errors = machine.config_errors if machine is not None else ["Not loaded yet."]
    return {
        "status": describe_status(type_cls.MACHINE_STATUS if type_cls else None, code),
        "status_text": state.status_text,
        "properties": state.properties,
        "errors": [*config_errors, *state.errors],
        "initialized": state.initialized,
        "restart_required": state.restart_required,
        "last_seen": state.last_seen,
        "stale": state.stale,
        "state_source": state.source,
    }


class MachineSerializer(serializers.ModelSerializer):
    """Read shape. ``live`` comes from the ``states`` and ``registry`` in the serializer context."""

    live = serializers.SerializerMethodField()

    class Meta:
        model = MachineConfig
        fields = ["id", "name", "machine_type", "driver", "active", "created_at", "updated_at", "live"]

    def get_live(self, config: MachineConfig) -> dict[str, Any]:
        states = self.context["states"]
        return live_state_dict(config, states[str(config.pk)], self.context["registry"])


class MachineWriteSerializer(serializers.Serializer):
    """Shape checks only; the rules (known type/driver, unique name, settings) live in services."""

    name = serializers.CharField(max_length=100)
    machine_type = serializers.CharField(max_length=100)
    driver = serializers.CharField(max_length=100)
    active = serializers.BooleanField(default=True)
    settings = serializers.DictField(
        required=False, help_text="Setting key -> value (secrets are write-only)."
    )


class SettingValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    config_type = serializers.CharField()
    required = serializers.BooleanField()
    secret = serializers.BooleanField()
    value = serializers.JSONField(allow_null=True, help_text="Always null for secret settings.")
    is_set = serializers.BooleanField()
