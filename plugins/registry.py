"""The per-process plugin registry: discovered plugins, their errors, which are active, their settings.

Built (imports only, no database) in ``PluginsConfig.ready()``; activation is read from
``PluginConfig`` on ``sync()``, which the machine registry calls on every reload. Plugin-wide settings
are read lazily and cached until the registry generation moves (see ``plugin_settings``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.db import DatabaseError

from plugins.discovery import DiscoveredPlugin, PluginError, discover
from plugins.generation import generation_current
from plugins.models import PluginConfig, PluginSetting
from plugins.setting_defs import SettingDefinition, typed_values
from plugins.signals import plugin_activation_checked, plugin_errors_requested

logger = logging.getLogger(__name__)


class PluginRegistry:
    settings_check_interval = 0.5  # seconds between generation checks when settings are read

    def __init__(self, *, extra: Sequence[type] = (), entry_points: bool = True) -> None:
        result = discover(extra=extra, entry_points=entry_points)
        self.plugins: dict[str, DiscoveredPlugin] = {p.slug: p for p in result.plugins}
        self.discovery_errors: list[PluginError] = result.errors
        # Errors other registries found in what a plugin provides (e.g. a driver missing an override).
        self.provided_errors: dict[str, list[PluginError]] = {}
        self._active: dict[str, bool] = {}
        # Plugin-wide settings: slug -> key -> stored text / typed value (defaults applied).
        self._stored_settings: dict[str, dict[str, str]] = {}
        self._typed_settings: dict[str, dict[str, Any]] = {}
        self._settings_generation: int | None = None
        self._settings_loaded = False
        self._settings_dirty = False
        self._settings_checked = 0.0
        self._settings_lock = threading.Lock()

    def sync(self) -> None:
        """Read activation from the database, creating rows for newly discovered plugins."""
        rows = {row.slug: row for row in PluginConfig.objects.all()}
        new = [
            PluginConfig(slug=slug, name=found.plugin.NAME, builtin=found.builtin, active=found.builtin)
            for slug, found in self.plugins.items()
            if slug not in rows
        ]
        if new:
            PluginConfig.objects.bulk_create(new, ignore_conflicts=True)
            rows.update(
                {row.slug: row for row in PluginConfig.objects.filter(slug__in=[p.slug for p in new])}
            )
        self._active = {slug: rows[slug].active for slug in self.plugins if slug in rows}

    def is_active(self, slug: str) -> bool:
        return self._active.get(slug, False)

    def active_plugins(self) -> list[DiscoveredPlugin]:
        return [found for slug, found in self.plugins.items() if self.is_active(slug)]

    def inactive_plugins(self) -> list[DiscoveredPlugin]:
        return [found for slug, found in self.plugins.items() if not self.is_active(slug)]

    def set_provided_errors(self, source: str, errors: list[PluginError]) -> None:
        self.provided_errors[source] = list(errors)

    def activation_problems(self, found: DiscoveredPlugin) -> list[PluginError]:
        """What the registries built from plugins would refuse in this plugin if it were activated.

        Asked through ``plugin_activation_checked``; a receiver that raises is itself reported as the
        plugin's error (it must never turn an activation into a 500)."""
        problems: list[PluginError] = []
        for receiver, answer in plugin_activation_checked.send_robust(sender=type(self), plugin=found):
            if isinstance(answer, Exception):
                logger.error("Activation check %r of plugin %s failed: %r", receiver, found.slug, answer)
                problems.append(
                    PluginError(plugin=found.slug, reason=f"checking the plugin failed: {answer!r}")
                )
            else:
                problems += list(answer or [])
        return problems

    def refresh_errors(self) -> None:
        """Bring every provided error up to date: ask the registries built from plugins to re-check
        (``plugin_errors_requested``) and reload plugin settings (invalid stored or missing values)."""
        plugin_errors_requested.send(sender=type(self), registry=self)
        self.ensure_settings_current()

    @property
    def errors(self) -> list[PluginError]:
        """Every plugin problem known to this process: discovery and what registries found."""
        errors = list(self.discovery_errors)
        for provided in self.provided_errors.values():
            errors.extend(provided)
        return errors

    def errors_for(self, slug: str) -> list[PluginError]:
        return [error for error in self.errors if error.plugin == slug]

    # -- plugin-wide settings ----------------------------------------------------------------------
    def mark_settings_dirty(self) -> None:
        """This process changed registry inputs: reload settings on next read."""
        self._settings_dirty = True

    def ensure_settings_current(self) -> None:
        """Reload settings when not loaded, dirty, or when the shared generation moved.

        The generation is checked at most every ``settings_check_interval`` seconds, so reading
        settings costs no query (and no cache read) in between.
        """
        if self._settings_loaded and not self._settings_dirty:
            now = time.monotonic()
            if now - self._settings_checked < self.settings_check_interval:
                return
            self._settings_checked = now
            if generation_current() == self._settings_generation:
                return
        self._load_settings()

    def _load_settings(self) -> None:
        with self._settings_lock:
            self._settings_dirty = False
            self._settings_checked = time.monotonic()
            try:
                generation = generation_current()  # read first: a change racing the query reloads again
                rows = list(PluginSetting.objects.values_list("plugin__slug", "key", "value"))
            except DatabaseError as exc:
                logger.warning("Plugin settings not loaded (defaults are used): %s", exc)
                return
            stored: dict[str, dict[str, str]] = {}
            for slug, key, value in rows:
                stored.setdefault(slug, {})[key] = value
            typed: dict[str, dict[str, Any]] = {}
            errors: list[PluginError] = []
            for slug, found in self.plugins.items():
                typed[slug], problems = typed_values(found.plugin.setting_definitions(), stored.get(slug, {}))
                errors += [PluginError(plugin=slug, reason=problem) for problem in problems]
            self._stored_settings, self._typed_settings = stored, typed
            self._settings_generation, self._settings_loaded = generation, True
            self.set_provided_errors("settings", errors)

    def plugin_settings(self, slug: str, definitions: dict[str, SettingDefinition]) -> dict[str, Any]:
        """Typed values of a plugin's settings, defaults applied. Secrets are included: never log them.

        ``definitions`` are used for a plugin class this registry did not discover (e.g. a test).
        """
        self.ensure_settings_current()
        typed = self._typed_settings.get(slug)
        if typed is None:
            typed, _ = typed_values(definitions, self._stored_settings.get(slug, {}))
        return typed


def get_plugin_registry() -> PluginRegistry:
    """This process's plugin registry (built in ``PluginsConfig.ready()``)."""
    return apps.get_app_config("plugins").plugin_registry


def reset_plugin_registry(*, extra: Sequence[type] = (), entry_points: bool = True) -> PluginRegistry:
    """Rediscover plugins (tests pass dummy plugin classes as ``extra``)."""
    config = apps.get_app_config("plugins")
    config.plugin_registry = PluginRegistry(extra=extra, entry_points=entry_points)
    return config.plugin_registry
