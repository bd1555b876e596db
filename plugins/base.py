"""What a plugin class is: identity, the Lab MES versions it supports, settings and capability mixins.

Everything documented in docs/plugins.md is public; anything else in this package is not.
"""

from __future__ import annotations

from typing import Any, ClassVar

from plugins.setting_defs import SettingDefinition, build_definitions

# Attributes every plugin class must set to a non-empty string.
REQUIRED_PLUGIN_ATTRIBUTES = ("SLUG", "NAME", "VERSION", "AUTHOR", "DESCRIPTION", "MES_VERSION")


class MesPlugin:
    """Base class of every Lab MES plugin.

    ``MES_VERSION`` is a PEP 440 specifier set (e.g. ``">=0.1,<1"``) checked against ``mes.__version__``
    when the plugin is discovered; a plugin that does not support the running version is not loaded.
    """

    SLUG: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    VERSION: ClassVar[str] = ""
    AUTHOR: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    MES_VERSION: ClassVar[str] = ""
    # Plugin-wide settings, same definition format as MACHINE_SETTINGS (see plugins.setting_defs).
    SETTINGS: ClassVar[dict[str, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"<plugin {self.SLUG} {self.VERSION}>"

    @classmethod
    def setting_definitions(cls) -> dict[str, SettingDefinition]:
        """``SETTINGS`` as typed definitions (config type ``P``), built once per class.

        Raises ValueError for a bad definition; discovery reports that as the plugin's error.
        """
        cached = cls.__dict__.get("_setting_definitions_cache")
        if cached is None or cached[0] is not cls.SETTINGS:  # rebuilt if SETTINGS is replaced
            cached = (cls.SETTINGS, build_definitions(cls.SETTINGS, config_type="P"))
            cls._setting_definitions_cache = cached
        return cached[1]

    def get_setting(self, key: str) -> Any:
        """The typed value of a plugin-wide setting, or its declared default when unset.

        Cheap enough to call on every poll: values are cached per process and reloaded only when the
        registry generation moves (no database query per call). Secret values are returned in clear:
        never log them.
        """
        from plugins.registry import get_plugin_registry  # not at the top: the registry imports this module

        definitions = self.setting_definitions()
        if key not in definitions:
            raise KeyError(f"{self!r} has no setting {key!r}; known: {sorted(definitions)}")
        value = get_plugin_registry().plugin_settings(self.SLUG, definitions)[key]
        return list(value) if isinstance(value, list) else value  # callers must not edit the cache

    @classmethod
    def mixins(cls) -> list[str]:
        """Names of the capability mixins the plugin uses, for the API and the admin."""
        return [
            base.MIXIN_NAME
            for base in cls.__mro__
            if getattr(base, "MIXIN_NAME", None) and "MIXIN_NAME" in vars(base)
        ]


class MachineDriverMixin:
    """Capability: the plugin provides machine types and/or drivers to the machine registry."""

    MIXIN_NAME = "machine"

    # The classes are checked by the machine registry (``machines.registry``), which sits above this
    # framework: they are typed as plain classes here so that the framework imports no app.
    def get_machine_types(self) -> list[type]:
        """Machine type classes this plugin adds (most plugins add none and only provide drivers)."""
        return []

    def get_machine_drivers(self) -> list[type]:
        """Driver classes this plugin provides; each extends the base driver of its machine type."""
        return []
