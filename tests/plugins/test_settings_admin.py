"""Plugin settings in the admin: edited inline, validated against the plugin's SETTINGS (all rows or
none), secrets never rendered."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from plugins.models import PluginConfig, PluginSetting
from plugins.registry import get_plugin_registry
from plugins.services import plugin_settings_update
from tests.plugins.settings_demo import SECRET, SLUG

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.org", "pw-123456!")
    client.force_login(user)
    return client


@pytest.fixture
def config(demo) -> PluginConfig:
    get_plugin_registry().sync()
    return PluginConfig.objects.get(slug=SLUG)


def url(config: PluginConfig) -> str:
    return f"/admin/plugins/pluginconfig/{config.pk}/change/"


def form_data(config: PluginConfig, rows: list[dict]) -> dict:
    data = {
        "settings-TOTAL_FORMS": str(len(rows)),
        "settings-INITIAL_FORMS": str(sum(1 for r in rows if r.get("id"))),
        "settings-MIN_NUM_FORMS": "0",
        "settings-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"settings-{index}-{key}"] = value
        data[f"settings-{index}-plugin"] = str(config.pk)
    return data


def stored() -> dict[str, str]:
    return dict(PluginSetting.objects.filter(plugin__slug=SLUG).values_list("key", "value"))


def test_change_page_lists_settings_and_never_shows_a_secret(config, admin_client):
    plugin_settings_update(slug=SLUG, values={"TOKEN": SECRET, "MAX_JOBS": 5})
    html = admin_client.get(url(config)).content.decode()
    assert SECRET not in html
    assert "•••••• (set)" in html  # the overview
    assert "<td>MAX_JOBS</td><td>Max jobs</td><td>int</td><td>5</td>" in html
    assert "&#x27;Lab&#x27; (default)" in html
    token = PluginSetting.objects.get(key="TOKEN")
    index = list(PluginSetting.objects.filter(plugin=config).values_list("pk", flat=True)).index(token.pk)
    assert (
        f'<input type="password" name="settings-{index}-value" size="40" '
        'placeholder="Leave blank to keep the stored value."'
    ) in html


def test_valid_rows_are_saved_normalised_and_read_by_the_plugin(config, admin_client, demo):
    response = admin_client.post(
        url(config),
        form_data(config, [{"key": "MAX_JOBS", "value": " 7 "}, {"key": "TAGS", "value": "a, b"}]),
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert stored() == {"MAX_JOBS": "7", "TAGS": '["a", "b"]'}
    assert demo.get_setting("MAX_JOBS") == 7 and demo.get_setting("TAGS") == ["a", "b"]


def test_one_bad_row_saves_nothing_and_names_the_problem(config, admin_client):
    plugin_settings_update(slug=SLUG, values={"SITE_NAME": "Before"})
    site = PluginSetting.objects.get(key="SITE_NAME")
    response = admin_client.post(
        url(config),
        form_data(
            config,
            [
                {"id": str(site.pk), "key": "SITE_NAME", "value": "After"},
                {"key": "MAX_JOBS", "value": "99"},
                {"key": "COLOUR", "value": "red"},
            ],
        ),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Must be at most 10." in html
    assert "Unknown setting &#x27;COLOUR&#x27;; valid settings are [&#x27;ENABLED&#x27;" in html
    assert stored() == {"SITE_NAME": "Before"}


def test_blank_secret_keeps_the_stored_value_and_bad_secrets_are_not_echoed(config, admin_client, demo):
    plugin_settings_update(slug=SLUG, values={"TOKEN": SECRET})
    token = PluginSetting.objects.get(key="TOKEN")
    response = admin_client.post(
        url(config), form_data(config, [{"id": str(token.pk), "key": "TOKEN", "value": ""}])
    )
    assert response.status_code == 302
    assert stored() == {"TOKEN": SECRET}

    response = admin_client.post(
        url(config),
        form_data(
            config, [{"id": str(token.pk), "key": "TOKEN", "value": ""}, {"key": "PIN", "value": SECRET}]
        ),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "The value is not a whole number." in html
    assert SECRET not in html
    assert stored() == {"TOKEN": SECRET}

    response = admin_client.post(
        url(config), form_data(config, [{"id": str(token.pk), "key": "TOKEN", "value": "new-token"}])
    )
    assert response.status_code == 302
    assert demo.get_setting("TOKEN") == "new-token"


def test_rows_can_be_deleted_to_restore_the_default(config, admin_client, demo):
    plugin_settings_update(slug=SLUG, values={"MAX_JOBS": 9})
    row = PluginSetting.objects.get(key="MAX_JOBS")
    response = admin_client.post(
        url(config), form_data(config, [{"id": str(row.pk), "key": "MAX_JOBS", "value": "9", "DELETE": "on"}])
    )
    assert response.status_code == 302
    assert stored() == {} and demo.get_setting("MAX_JOBS") == 3
