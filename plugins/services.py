"""Writes for plugins: staff switch plugins on and off."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from plugins.models import PluginConfig
from plugins.registry import get_plugin_registry


def plugin_set_active(*, slug: str, active: bool) -> PluginConfig:
    """Activate or deactivate a discovered plugin; every process picks it up via the generation."""
    registry = get_plugin_registry()
    if slug not in registry.plugins:
        known = sorted(registry.plugins)
        errors = registry.errors_for(slug)
        if errors:
            raise ValidationError(f"Plugin {slug!r} could not be loaded: {errors[0].reason}")
        raise ValidationError(f"Unknown plugin {slug!r}; discovered plugins are {known}")
    found = registry.plugins[slug]
    config, _ = PluginConfig.objects.get_or_create(
        slug=slug, defaults={"name": found.plugin.NAME, "builtin": found.builtin, "active": found.builtin}
    )
    if config.active != active:
        config.active = active
        config.save(update_fields=["active", "updated_at"])
    return config


def plugin_activate(*, slug: str) -> PluginConfig:
    return plugin_set_active(slug=slug, active=True)


def plugin_deactivate(*, slug: str) -> PluginConfig:
    return plugin_set_active(slug=slug, active=False)
