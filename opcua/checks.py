"""`manage.py check` fails loudly on OPC UA settings that cannot work."""

from __future__ import annotations

from django.core import checks

from opcua.conf import OpcuaConfigError, get_config


@checks.register()
def check_opcua_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        get_config().validate()
    except OpcuaConfigError as exc:
        return [checks.Error(str(exc), id="opcua.E001")]
    return []
