"""A plugin declaring one plugin-wide setting of every type, and a fixture that installs it."""

from __future__ import annotations

import pytest

from plugins.base import MesPlugin
from plugins.registry import get_plugin_registry

SLUG = "settings-demo"
SECRET = "s3cret-token-never-shown"  # a stored secret value tests look for in every output


class SettingsPlugin(MesPlugin):
    SLUG = SLUG
    NAME = "Settings demo"
    VERSION = "1.0"
    AUTHOR = "Lab MES tests"
    DESCRIPTION = "Declares plugin-wide settings of every type."
    MES_VERSION = ">=0.1"
    SETTINGS = {
        "SITE_NAME": {"name": "Site name", "type": "str", "default": "Lab"},
        "MAX_JOBS": {"name": "Max jobs", "type": "int", "min": 1, "max": 10, "default": 3},
        "RATIO": {"name": "Ratio", "type": "float"},
        "ENABLED": {"name": "Enabled", "type": "bool", "default": False},
        "TAGS": {"name": "Tags", "type": "list"},
        "MODE": {"name": "Mode", "type": "choice", "choices": ["fast", "quiet"], "default": "fast"},
        "ENDPOINT": {"name": "Endpoint", "type": "str", "required": True},
        "TOKEN": {"name": "Token", "type": "str", "secret": True},
        "PIN": {"name": "PIN", "type": "int", "secret": True},
    }


@pytest.fixture
def demo(db, fresh_registries) -> SettingsPlugin:
    """The discovered (inactive) demo plugin instance; settings work whether or not it is active."""
    fresh_registries(SettingsPlugin, activate=())
    return get_plugin_registry().plugins[SLUG].plugin
