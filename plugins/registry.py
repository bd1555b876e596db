"""The per-process plugin registry: discovered plugins, their errors and which are active.

Built (imports only, no database) in ``PluginsConfig.ready()``; activation is read from
``PluginConfig`` on ``sync()``, which the machine registry calls on every reload.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import apps

from plugins.discovery import DiscoveredPlugin, PluginError, discover
from plugins.models import PluginConfig


class PluginRegistry:
    def __init__(self, *, extra: Sequence[type] = (), entry_points: bool = True) -> None:
        result = discover(extra=extra, entry_points=entry_points)
        self.plugins: dict[str, DiscoveredPlugin] = {p.slug: p for p in result.plugins}
        self.discovery_errors: list[PluginError] = result.errors
        # Errors other registries found in what a plugin provides (e.g. a driver missing an override).
        self.provided_errors: dict[str, list[PluginError]] = {}
        self._active: dict[str, bool] = {}

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

    @property
    def errors(self) -> list[PluginError]:
        """Every plugin problem known to this process: discovery and what registries found."""
        errors = list(self.discovery_errors)
        for provided in self.provided_errors.values():
            errors.extend(provided)
        return errors

    def errors_for(self, slug: str) -> list[PluginError]:
        return [error for error in self.errors if error.plugin == slug]


def get_plugin_registry() -> PluginRegistry:
    """This process's plugin registry (built in ``PluginsConfig.ready()``)."""
    return apps.get_app_config("plugins").plugin_registry


def reset_plugin_registry(*, extra: Sequence[type] = (), entry_points: bool = True) -> PluginRegistry:
    """Rediscover plugins (tests pass dummy plugin classes as ``extra``)."""
    config = apps.get_app_config("plugins")
    config.plugin_registry = PluginRegistry(extra=extra, entry_points=entry_points)
    return config.plugin_registry
