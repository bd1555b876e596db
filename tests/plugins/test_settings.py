"""Plugin-wide settings: typed storage and defaults, all-or-nothing validation, secrets, and the
per-process cache that reloads only when the registry generation moves."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import F

from plugins.base import MesPlugin
from plugins.discovery import discover
from plugins.generation import CACHE_KEY, generation_current, generation_from_db
from plugins.models import PluginConfig, PluginSetting, RegistryGeneration
from plugins.registry import get_plugin_registry, reset_plugin_registry
from plugins.services import plugin_setting_set, plugin_settings_update
from plugins.setting_defs import SettingsInvalid
from tests.plugins.settings_demo import SECRET, SLUG, SettingsPlugin

pytestmark = pytest.mark.django_db


def stored() -> dict[str, str]:
    return dict(PluginSetting.objects.filter(plugin__slug=SLUG).values_list("key", "value"))


def test_unset_settings_read_as_their_declared_defaults(demo):
    assert demo.get_setting("SITE_NAME") == "Lab"
    assert demo.get_setting("MAX_JOBS") == 3
    assert demo.get_setting("ENABLED") is False
    assert demo.get_setting("MODE") == "fast"
    assert demo.get_setting("RATIO") is None and demo.get_setting("TAGS") is None
    with pytest.raises(KeyError, match=r"no setting 'NOPE'; known: \['ENABLED', 'ENDPOINT'"):
        demo.get_setting("NOPE")


def test_values_are_stored_as_normalised_text_and_read_typed(demo):
    plugin_settings_update(
        slug=SLUG,
        values={
            "SITE_NAME": "  Makerspace ",
            "MAX_JOBS": "5",
            "RATIO": 0.25,
            "ENABLED": "yes",
            "TAGS": "pla, petg",
            "MODE": "quiet",
            "TOKEN": SECRET,
        },
    )
    assert stored() == {
        "SITE_NAME": "Makerspace",
        "MAX_JOBS": "5",
        "RATIO": "0.25",
        "ENABLED": "true",
        "TAGS": '["pla", "petg"]',
        "MODE": "quiet",
        "TOKEN": SECRET,
    }
    assert demo.get_setting("SITE_NAME") == "Makerspace"
    assert demo.get_setting("MAX_JOBS") == 5
    assert demo.get_setting("RATIO") == 0.25
    assert demo.get_setting("ENABLED") is True
    assert demo.get_setting("TAGS") == ["pla", "petg"]
    demo.get_setting("TAGS").append("abs")  # a copy: the cached value is not changed
    assert demo.get_setting("TAGS") == ["pla", "petg"]
    assert demo.get_setting("MODE") == "quiet"
    assert demo.get_setting("TOKEN") == SECRET  # plugin code gets secrets in clear
    assert PluginConfig.objects.get(slug=SLUG).active is False  # settable while inactive


def test_null_or_empty_unsets_so_the_default_applies_again(demo):
    plugin_setting_set(slug=SLUG, key="MAX_JOBS", value=8)
    assert demo.get_setting("MAX_JOBS") == 8
    plugin_setting_set(slug=SLUG, key="MAX_JOBS", value=None)
    assert demo.get_setting("MAX_JOBS") == 3 and "MAX_JOBS" not in stored()
    plugin_setting_set(slug=SLUG, key="SITE_NAME", value="Other")
    plugin_setting_set(slug=SLUG, key="SITE_NAME", value="  ")
    assert demo.get_setting("SITE_NAME") == "Lab" and stored() == {}


def test_unknown_key_is_refused_naming_the_valid_keys(demo):
    with pytest.raises(SettingsInvalid) as caught:
        plugin_setting_set(slug=SLUG, key="COLOUR", value="red")
    assert caught.value.setting_errors == {
        "COLOUR": [
            "Unknown setting; valid settings are ['ENABLED', 'ENDPOINT', 'MAX_JOBS', 'MODE', 'PIN', "
            "'RATIO', 'SITE_NAME', 'TAGS', 'TOKEN']."
        ]
    }


def test_one_bad_field_saves_nothing_and_every_bad_field_gets_its_message(demo):
    plugin_setting_set(slug=SLUG, key="SITE_NAME", value="Before")
    with pytest.raises(SettingsInvalid) as caught:
        plugin_settings_update(
            slug=SLUG,
            values={
                "SITE_NAME": "After",  # valid, but must not be saved
                "MAX_JOBS": True,
                "RATIO": "fast",
                "MODE": "loud",
                "ENABLED": "maybe",
                "TAGS": [1, 2],
            },
        )
    assert caught.value.setting_errors == {
        "MAX_JOBS": ["Expected a whole number, got bool."],
        "RATIO": ["'fast' is not a number."],
        "MODE": ["'loud' is not one of ['fast', 'quiet']."],
        "ENABLED": ["'maybe' is not true or false."],
        "TAGS": ["Expected a list of text values."],
    }
    assert stored() == {"SITE_NAME": "Before"}
    assert demo.get_setting("SITE_NAME") == "Before"


def test_range_required_and_shape_errors(demo):
    with pytest.raises(SettingsInvalid) as caught:
        plugin_settings_update(slug=SLUG, values={"MAX_JOBS": 11, "ENDPOINT": None})
    assert caught.value.setting_errors == {
        "MAX_JOBS": ["Must be at most 10."],
        "ENDPOINT": ["This setting is required and cannot be cleared."],
    }
    with pytest.raises(SettingsInvalid) as caught:
        plugin_settings_update(slug=SLUG, values=["MAX_JOBS", 2])
    assert caught.value.setting_errors == {"settings": ["Expected an object of setting key -> value."]}
    assert stored() == {}


def test_unknown_plugin_is_a_validation_error(demo):
    with pytest.raises(ValidationError, match="Unknown plugin 'nope'; discovered plugins are"):
        plugin_setting_set(slug="nope", key="A", value=1)


def test_secret_values_are_never_echoed_in_errors_or_logged(demo, caplog):
    caplog.set_level(logging.DEBUG)
    plugin_setting_set(slug=SLUG, key="TOKEN", value=SECRET)
    with pytest.raises(SettingsInvalid) as caught:
        plugin_setting_set(slug=SLUG, key="PIN", value=SECRET)
    assert caught.value.setting_errors == {"PIN": ["The value is not a whole number."]}
    assert demo.get_setting("TOKEN") == SECRET
    # a secret stored invalid (e.g. edited in the database) is reported without its value
    config = PluginConfig.objects.get(slug=SLUG)
    PluginSetting.objects.create(plugin=config, key="PIN", value=SECRET)
    assert demo.get_setting("PIN") is None
    reasons = [e.reason for e in get_plugin_registry().errors_for(SLUG)]
    assert "Setting PIN has an invalid stored value: The value is not a whole number." in reasons
    assert caplog.records, "the services log what they change"
    assert SECRET not in caplog.text
    assert SECRET not in str(PluginSetting.objects.get(key="TOKEN"))


def test_invalid_stored_values_fall_back_to_the_default_and_are_reported(demo):
    get_plugin_registry().sync()  # creates the PluginConfig rows of discovered plugins
    config = PluginConfig.objects.get(slug=SLUG)
    PluginSetting.objects.create(plugin=config, key="MAX_JOBS", value="lots")
    assert demo.get_setting("MAX_JOBS") == 3
    reasons = [e.reason for e in get_plugin_registry().errors_for(SLUG)]
    assert "Setting MAX_JOBS has an invalid stored value: 'lots' is not a whole number." in reasons
    assert "Missing required settings: ENDPOINT" in reasons
    plugin_settings_update(slug=SLUG, values={"MAX_JOBS": 4, "ENDPOINT": "https://x"})
    assert demo.get_setting("MAX_JOBS") == 4
    assert get_plugin_registry().errors_for(SLUG) == []


def test_reading_is_cached_no_query_per_call(demo, django_assert_num_queries):
    plugin_setting_set(slug=SLUG, key="MAX_JOBS", value=6)
    assert demo.get_setting("MAX_JOBS") == 6  # loads once
    get_plugin_registry().settings_check_interval = 3600  # keep the throttled generation check out
    with django_assert_num_queries(0):
        for _ in range(200):
            assert demo.get_setting("MAX_JOBS") == 6
            assert demo.get_setting("SITE_NAME") == "Lab"


def test_a_change_in_this_process_is_read_at_once(demo):
    get_plugin_registry().settings_check_interval = 3600
    assert demo.get_setting("MAX_JOBS") == 3
    plugin_setting_set(slug=SLUG, key="MAX_JOBS", value=9)
    assert demo.get_setting("MAX_JOBS") == 9


def test_saving_bumps_the_generation_and_a_reset_registry_reads_the_new_value(
    demo, django_capture_on_commit_callbacks
):
    before = generation_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        plugin_setting_set(slug=SLUG, key="MAX_JOBS", value=7)
    assert generation_from_db() > before
    assert generation_current() == generation_from_db()  # published to the shared cache on commit
    fresh = reset_plugin_registry(extra=(SettingsPlugin,))
    assert fresh.plugins[SLUG].plugin.get_setting("MAX_JOBS") == 7

    unchanged = generation_from_db()
    plugin_setting_set(slug=SLUG, key="MAX_JOBS", value="7")  # same value: no reload anywhere
    assert generation_from_db() == unchanged


def test_a_change_made_by_another_process_is_seen_once_the_generation_moves(demo):
    registry = get_plugin_registry()
    registry.settings_check_interval = 0
    plugin_setting_set(slug=SLUG, key="SITE_NAME", value="Old")
    assert demo.get_setting("SITE_NAME") == "Old"
    # Another process writes the row and bumps the shared generation; no signal reaches this one.
    PluginSetting.objects.filter(plugin__slug=SLUG, key="SITE_NAME").update(value="New")
    assert demo.get_setting("SITE_NAME") == "Old"  # same generation: served from the cache
    RegistryGeneration.objects.filter(pk=1).update(value=F("value") + 1)
    cache.set(CACHE_KEY, generation_from_db(), timeout=None)
    assert demo.get_setting("SITE_NAME") == "New"


class BadKeyPlugin(SettingsPlugin):
    SLUG = "bad-key"
    SETTINGS = {"lower": {"type": "str"}}


class BadDefaultPlugin(SettingsPlugin):
    SLUG = "bad-default"
    SETTINGS = {"COUNT": {"type": "int", "default": "many"}}


class NotADictPlugin(SettingsPlugin):
    SLUG = "not-a-dict"
    SETTINGS = ["COUNT"]


def test_a_bad_setting_definition_keeps_the_plugin_from_loading():
    result = discover(extra=[BadKeyPlugin, BadDefaultPlugin, NotADictPlugin], entry_points=False)
    reasons = {error.plugin: error.reason for error in result.errors}
    assert reasons["bad-key"] == "bad setting definition: setting key 'lower' must be UPPER_SNAKE_CASE"
    assert reasons["bad-default"] == (
        "bad setting definition: setting COUNT: default 'many' is invalid: 'many' is not a whole number."
    )
    assert reasons["not-a-dict"] == (
        "bad setting definition: SETTINGS must be a dict of setting key -> definition"
    )
    assert not {"bad-key", "bad-default", "not-a-dict"} & {p.slug for p in result.plugins}


def test_plugins_without_settings_have_none():
    class Plain(MesPlugin):
        SLUG = "plain"

    assert Plain.setting_definitions() == {}
    assert SettingsPlugin.setting_definitions() is SettingsPlugin.setting_definitions()  # built once
