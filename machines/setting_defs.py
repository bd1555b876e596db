"""Moved to ``plugins.setting_defs`` (shared with plugin-wide ``SETTINGS``); re-exported for old imports."""

from plugins.setting_defs import KEY_PATTERN, SETTING_TYPES, SettingDefinition, build_definitions

__all__ = ["KEY_PATTERN", "SETTING_TYPES", "SettingDefinition", "build_definitions"]
