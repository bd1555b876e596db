"""Reads for plugins: look a discovered plugin up, and its settings for staff screens (API, admin)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from plugins.discovery import DiscoveredPlugin
from plugins.models import PluginSetting
from plugins.registry import get_plugin_registry
from plugins.setting_defs import typed_values


class PluginNotFound(ValidationError):
    """No discovered plugin has this slug (the API answers 404; other callers see a ValidationError)."""


def plugin_discovered(*, slug: str) -> DiscoveredPlugin:
    """The plugin this process discovered under ``slug``; the error says why it is missing."""
    registry = get_plugin_registry()
    found = registry.plugins.get(slug)
    if found is not None:
        return found
    errors = registry.errors_for(slug)
    if errors:
        raise PluginNotFound(f"Plugin {slug!r} could not be loaded: {errors[0].reason}")
    raise PluginNotFound(f"Unknown plugin {slug!r}; discovered plugins are {sorted(registry.plugins)}")


def plugin_settings_list(*, slug: str) -> list[dict[str, Any]]:
    """Every setting the plugin defines, with its current typed value (the default when unset).

    Read from the database, not the per-process cache, so staff see their own write at once. Secret
    values are never returned: ``value`` is None and ``is_set`` says whether one is stored.
    """
    definitions = plugin_discovered(slug=slug).plugin.setting_definitions()
    stored = dict(PluginSetting.objects.filter(plugin__slug=slug).values_list("key", "value"))
    values, _ = typed_values(definitions, stored)
    return [
        {
            **definition.as_dict(),
            "value": None if definition.secret else values[key],
            "is_set": key in stored,
        }
        for key, definition in definitions.items()
    ]
