"""Writes for plugins: staff switch plugins on and off and change their plugin-wide settings.

Every write validates fully before writing; saving bumps the registry generation (see receivers), so
every process picks the change up without a restart.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from plugins.discovery import DiscoveredPlugin, PluginError
from plugins.models import PluginConfig, PluginSetting
from plugins.registry import get_plugin_registry
from plugins.selectors import plugin_discovered
from plugins.setting_defs import validate_settings

logger = logging.getLogger(__name__)


def _config_for(found: DiscoveredPlugin) -> PluginConfig:
    config, _ = PluginConfig.objects.get_or_create(
        slug=found.slug,
        defaults={"name": found.plugin.NAME, "builtin": found.builtin, "active": found.builtin},
    )
    return config


class PluginActivationRefused(ValidationError):
    """The plugin's classes have problems; it stays inactive. ``errors`` are the registry errors."""

    def __init__(self, slug: str, errors: list[PluginError]) -> None:
        self.slug, self.errors = slug, errors
        super().__init__(
            f"plugin {slug} stays inactive: " + "; ".join(error.reason for error in errors),
            code="plugin_invalid",
        )


def plugin_set_active(*, slug: str, active: bool) -> PluginConfig:
    """Activate or deactivate a discovered plugin; every process picks it up via the generation.

    Before an inactive plugin is activated, the registries built from plugins check what it provides
    (``PluginRegistry.activation_problems``); any problem raises ``PluginActivationRefused`` and nothing
    is saved, so a broken plugin can never reach the machine list.
    """
    found = plugin_discovered(slug=slug)
    config = _config_for(found)
    if active and not config.active:
        problems = get_plugin_registry().activation_problems(found)
        if problems:
            logger.warning("Plugin %s not activated: %s", slug, "; ".join(p.reason for p in problems))
            raise PluginActivationRefused(slug, problems)
    if config.active != active:
        config.active = active
        config.save(update_fields=["active", "updated_at"])
    return config


def plugin_activate(*, slug: str) -> PluginConfig:
    return plugin_set_active(slug=slug, active=True)


def plugin_deactivate(*, slug: str) -> PluginConfig:
    return plugin_set_active(slug=slug, active=False)


def plugin_settings_update(*, slug: str, values: dict[str, Any]) -> PluginConfig:
    """Set (or, with null/empty, unset) plugin-wide settings, validated against the plugin's ``SETTINGS``.

    All or nothing: one unknown key or bad value raises ``SettingsInvalid`` (messages per key) and
    nothing is saved. Unchanged values are not rewritten, so they do not make every process reload.
    """
    found = plugin_discovered(slug=slug)
    validated = validate_settings(found.plugin.setting_definitions(), values)
    with transaction.atomic():
        config = _config_for(found)
        stored = {setting.key: setting for setting in config.settings.select_for_update()}
        for key, (_definition, text) in validated.items():
            current = stored.get(key)
            if text is None:
                if current is not None:
                    current.delete()
            elif current is None:
                PluginSetting.objects.update_or_create(plugin=config, key=key, defaults={"value": text})
            elif current.value != text:
                current.value = text
                current.save(update_fields=["value", "updated_at"])
    logger.info("Plugin %s settings saved: %s", slug, ", ".join(sorted(validated)))  # keys only, never values
    return config


def plugin_setting_set(*, slug: str, key: str, value: Any) -> PluginConfig:
    """Set one plugin-wide setting (None or empty text unsets it, so the default applies)."""
    return plugin_settings_update(slug=slug, values={key: value})
