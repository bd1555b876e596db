"""Find plugin classes: the built-in list ``settings.MES_BUILTIN_PLUGINS`` and entry points in group
``mes.plugins``.

The framework knows no plugin by name: the project's settings list the built-in plugin modules (e.g. the
``drivers`` app), each declaring ``MES_PLUGINS = [PluginClass, ...]``, and third-party packages register
an entry point. Both are loaded the same way; built-ins are only active by default.

Discovery only imports code; it never touches the database. Anything wrong with a plugin becomes a
``PluginError`` naming the plugin and the reason; discovery itself never raises.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

import mes
from plugins.base import REQUIRED_PLUGIN_ATTRIBUTES, MesPlugin

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mes.plugins"


@dataclass(frozen=True)
class PluginError:
    """Why a plugin (or something it provides) was not loaded. ``plugin`` is its slug or source name."""

    plugin: str
    reason: str
    source: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "reason": self.reason, "source": self.source}

    def __str__(self) -> str:
        return f"{self.plugin}: {self.reason}"


@dataclass(frozen=True)
class DiscoveredPlugin:
    plugin: MesPlugin
    builtin: bool
    source: str  # "builtin:<module>" or "entry-point:<name> (<distribution>)"

    @property
    def slug(self) -> str:
        return self.plugin.SLUG


@dataclass
class DiscoveryResult:
    plugins: list[DiscoveredPlugin] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)


def builtin_modules() -> list[str]:
    """Dotted names of the built-in plugin modules (``settings.MES_BUILTIN_PLUGINS``)."""
    modules = getattr(settings, "MES_BUILTIN_PLUGINS", [])
    if isinstance(modules, str) or not all(isinstance(name, str) for name in modules):
        raise ValueError(f"MES_BUILTIN_PLUGINS must be a list of module names, not {modules!r}")
    return list(modules)


def builtin_candidates() -> Iterable[tuple[str, object | None, str | None]]:
    """(source, plugin class or None, import error) for every class a built-in module lists."""
    for name in builtin_modules():
        source = f"builtin:{name}"
        try:
            # MES_PLUGINS may be resolved lazily (drivers/__init__.py), so reading it can import too.
            plugin_classes = getattr(importlib.import_module(name), "MES_PLUGINS", None)
        except Exception as exc:
            logger.exception("Built-in plugin module %s failed to import", name)
            yield source, None, f"import failed: {exc!r}"
            continue
        if not isinstance(plugin_classes, list | tuple):
            yield (
                source,
                None,
                f"a built-in plugin module must declare MES_PLUGINS = [...], not {plugin_classes!r}",
            )
            continue
        for plugin_class in plugin_classes:
            yield source, plugin_class, None


def entry_point_candidates() -> Iterable[tuple[str, object | None, str | None]]:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else "?"
        source = f"entry-point:{ep.name} ({dist})"
        try:
            plugin_class = ep.load()
        except Exception as exc:
            logger.exception("Plugin entry point %s failed to load", ep.name)
            yield source, None, f"import failed: {exc!r}"
            continue
        yield source, plugin_class, None


def check_plugin_class(plugin_class: object, *, mes_version: str) -> str | None:
    """Return why the class cannot be loaded as a plugin, or None when it is fine."""
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, MesPlugin)):
        return f"{plugin_class!r} is not a subclass of plugins.base.MesPlugin"
    missing = []
    for name in REQUIRED_PLUGIN_ATTRIBUTES:
        try:
            value = getattr(plugin_class, name, None)
        except Exception as exc:  # noqa: BLE001 - a plugin's descriptor may raise anything
            return f"reading {name} failed: {exc!r}"
        if not isinstance(value, str) or not value.strip():
            missing.append(name)
    if missing:
        return f"missing required attribute(s): {', '.join(missing)}"
    try:
        spec = SpecifierSet(plugin_class.MES_VERSION)
    except InvalidSpecifier:
        return f"MES_VERSION {plugin_class.MES_VERSION!r} is not a valid version specifier (e.g. '>=0.1,<1')"
    if not spec.contains(Version(mes_version), prereleases=True):
        return f"supports Lab MES {plugin_class.MES_VERSION}, but this is Lab MES {mes_version}"
    try:
        settings = plugin_class.SETTINGS
    except Exception as exc:  # noqa: BLE001
        return f"reading SETTINGS failed: {exc!r}"
    del settings  # readable: build_definitions says what is wrong with its content
    try:
        plugin_class.setting_definitions()
    except ValueError as exc:
        return f"bad setting definition: {exc}"
    except Exception as exc:  # noqa: BLE001 - e.g. a definition that is not a dict
        return f"bad setting definition: {exc!r}"
    return None


def _slug_of(plugin_class: object) -> str:
    try:
        slug = getattr(plugin_class, "SLUG", "")
    except Exception:  # noqa: BLE001 - the SLUG itself may be the broken attribute
        return ""
    return slug if isinstance(slug, str) else ""


def discover(
    *,
    extra: Sequence[type] = (),
    entry_points: bool = True,
    mes_version: str | None = None,
) -> DiscoveryResult:
    """Discover built-ins, entry-point plugins and ``extra`` classes (tests pass dummy plugins here).

    ``extra`` plugins count as third-party (inactive until activated).
    """
    mes_version = mes_version or mes.__version__
    result = DiscoveryResult()
    seen: dict[str, str] = {}
    candidates: list[tuple[str, object | None, str | None, bool]] = [
        (source, cls, error, True) for source, cls, error in builtin_candidates()
    ]
    if entry_points:
        candidates += [(source, cls, error, False) for source, cls, error in entry_point_candidates()]
    candidates += [(f"extra:{cls.__module__}.{cls.__qualname__}", cls, None, False) for cls in extra]

    for source, plugin_class, error, is_builtin in candidates:
        name = _slug_of(plugin_class) or source
        if error is None:
            try:
                error = check_plugin_class(plugin_class, mes_version=mes_version)
            except Exception as exc:  # noqa: BLE001 - one broken plugin never stops discovery
                error = f"checking the plugin class failed: {exc!r}"
        if error is None and name in seen:
            error = f"duplicate slug {name!r}: already provided by {seen[name]}"
        if error is None:
            try:
                instance = plugin_class()
            except Exception as exc:  # noqa: BLE001 - reported as a registry error instead
                error = f"could not be instantiated: {exc!r}"
        if error is not None:
            logger.error("Plugin %s (%s) not loaded: %s", name, source, error)
            result.errors.append(PluginError(plugin=name, reason=error, source=source))
            continue
        seen[name] = source
        result.plugins.append(DiscoveredPlugin(plugin=instance, builtin=is_builtin, source=source))
    return result
