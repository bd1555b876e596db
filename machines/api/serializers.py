from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import cached_property
from rest_framework import serializers

from machines.models import MachineConfig
from machines.registry import MachineRegistry
from machines.state import LiveState
from machines.status import describe_status
from plugins.api.serializers import RegistryErrorSerializer, SettingDefinitionSerializer


def live_state_dict(config: MachineConfig, state: LiveState, registry: MachineRegistry) -> dict[str, Any]:
    """The live part of a machine as the API shows it: status with label/colour/class, errors, staleness."""
    return _live(str(config.pk), config.machine_type, state, registry)


def _live(machine_id: str, machine_type: str, state: LiveState, registry: MachineRegistry) -> dict[str, Any]:
    machine = registry.get_machine(machine_id)
    type_cls = registry.get_machine_type(machine_type)
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


def iso_datetime(value: datetime | None, tz: tzinfo | None) -> str | None:
    """What DRF's ``DateTimeField`` outputs (ISO 8601 in ``tz``, UTC as ``Z``) at a third of its cost."""
    if not value:
        return None
    text = (value.astimezone(tz) if tz is not None else value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class MachineSerializer(serializers.ModelSerializer):
    """Read shape. ``live`` comes from the ``states`` and ``registry`` in the serializer context."""

    live = serializers.SerializerMethodField()

    class Meta:
        model = MachineConfig
        fields = ["id", "name", "machine_type", "driver", "active", "created_at", "updated_at", "live"]

    @cached_property
    def _tz(self) -> tzinfo | None:
        # Looked up once per serializer, and one serializer maps a whole list (machine_list_data).
        return timezone.get_current_timezone() if settings.USE_TZ else None

    def to_representation(self, config: MachineConfig) -> dict[str, Any]:
        # Written out rather than DRF's generic field-by-field path, which cost more than everything
        # else in a 1000-machine list. The fields above stay for the schema; the output equals theirs
        # (tests/machines/test_machine_list.py compares the two).
        tz = self._tz
        return {
            "id": str(config.pk),
            "name": config.name,
            "machine_type": config.machine_type,
            "driver": config.driver,
            "active": config.active,
            "created_at": iso_datetime(config.created_at, tz),
            "updated_at": iso_datetime(config.updated_at, tz),
            "live": self.get_live(config),
        }

    def get_live(self, config: MachineConfig) -> dict[str, Any]:
        states = self.context["states"]
        return live_state_dict(config, states[str(config.pk)], self.context["registry"])


# The columns a list row needs: read as plain values, a 1000-machine page skips building 1000 models.
LIST_FIELDS = ("id", "name", "machine_type", "driver", "active", "created_at", "updated_at")


def machine_rows_data(
    rows: list[dict[str, Any]], *, registry: MachineRegistry, states: dict[str, LiveState]
) -> list[dict[str, Any]]:
    """A list body from ``.values(*LIST_FIELDS)`` rows: the same output as ``MachineSerializer``."""
    tz = timezone.get_current_timezone() if settings.USE_TZ else None
    data = []
    for row in rows:
        machine_id = str(row["id"])
        data.append(
            {
                "id": machine_id,
                "name": row["name"],
                "machine_type": row["machine_type"],
                "driver": row["driver"],
                "active": row["active"],
                "created_at": iso_datetime(row["created_at"], tz),
                "updated_at": iso_datetime(row["updated_at"], tz),
                "live": _live(machine_id, row["machine_type"], states[machine_id], registry),
            }
        )
    return data


def machine_list_data(machines: list[MachineConfig], *, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The body of a machine list: ``MachineSerializer`` output for each machine.

    One serializer maps them all instead of ``many=True``: a ``ListSerializer`` and its child point at
    each other, so the page, its states and the output would live on as cyclic garbage until a full
    collection, which then takes ~100 ms to free a few requests' worth at once.
    """
    serializer = MachineSerializer(context=context)
    return [serializer.to_representation(machine) for machine in machines]


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


class StatusCodeSerializer(serializers.Serializer):
    code = serializers.IntegerField()
    name = serializers.CharField()
    label = serializers.CharField()
    colour = serializers.CharField()
    status_class = serializers.CharField(help_text="ok, warning, machine_fault, driver_fault or unknown.")


class MachineTypeSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    provided_by = serializers.CharField(help_text="The plugin that provides the type.")
    statuses = StatusCodeSerializer(many=True)
    settings = SettingDefinitionSerializer(many=True)
    drivers = serializers.ListField(child=serializers.CharField())


class DriverSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    machine_type = serializers.CharField()
    plugin = serializers.CharField()
    settings = SettingDefinitionSerializer(many=True)
    errors = serializers.ListField(child=serializers.CharField())
    machines = serializers.IntegerField(help_text="Machines that use the driver.")


class DriverListSerializer(serializers.Serializer):
    drivers = DriverSerializer(many=True)
    errors = RegistryErrorSerializer(many=True)


class RegistryStatusSerializer(serializers.Serializer):
    loaded = serializers.BooleanField()
    load_error = serializers.CharField(allow_null=True)
    generation = serializers.IntegerField(
        help_text="Bumped on any change; every process reloads on a newer one."
    )
    machines = serializers.IntegerField()
    running_here = serializers.IntegerField(help_text="Machines this process owns and runs.")
    machine_types = serializers.ListField(child=serializers.CharField())
    drivers = serializers.ListField(child=serializers.CharField())
    errors = RegistryErrorSerializer(many=True)
