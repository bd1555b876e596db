"""The plugin settings API: definitions with values (secrets write-only), staff-only PATCH with
per-field 400s, 404 for unknown plugins, the published schema, and the example plugin end to end."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from machines.registry import get_registry
from machines.services import machine_create
from mes.services import api_token_create
from plugins.models import PluginSetting
from plugins.services import plugin_setting_set
from tests.plugins.settings_demo import SECRET, SLUG

pytestmark = pytest.mark.django_db
URL = f"/api/plugins/{SLUG}/settings/"


def client_for(name: str, *, staff: bool) -> APIClient:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user(name, is_staff=staff))
    return client


@pytest.fixture
def staff() -> APIClient:
    return client_for("staff", staff=True)


@pytest.fixture
def student() -> APIClient:
    return client_for("student", staff=False)


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {row["key"]: row for row in rows}


def test_get_lists_definitions_with_typed_values_and_masks_secrets(demo, student):
    plugin_setting_set(slug=SLUG, key="MAX_JOBS", value="5")
    plugin_setting_set(slug=SLUG, key="TOKEN", value=SECRET)
    response = student.get(URL)
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    rows = by_key(response.json())
    assert list(rows) == list(demo.SETTINGS)
    assert rows["MAX_JOBS"] == {
        "key": "MAX_JOBS",
        "name": "Max jobs",
        "description": "",
        "type": "int",
        "config_type": "P",
        "required": False,
        "secret": False,
        "default": 3,
        "min": 1,
        "max": 10,
        "value": 5,
        "is_set": True,
    }
    assert rows["SITE_NAME"]["value"] == "Lab" and rows["SITE_NAME"]["is_set"] is False
    assert rows["MODE"]["choices"] == ["fast", "quiet"]
    assert rows["TOKEN"]["secret"] is True
    assert rows["TOKEN"]["value"] is None and rows["TOKEN"]["default"] is None
    assert rows["TOKEN"]["is_set"] is True
    assert rows["PIN"]["is_set"] is False


def test_staff_patch_saves_typed_values_and_never_returns_the_secret(demo, staff):
    response = staff.patch(URL, {"MAX_JOBS": 4, "ENABLED": "on", "TOKEN": SECRET}, format="json")
    assert response.status_code == 200, response.json()
    assert SECRET not in response.content.decode()
    rows = by_key(response.json())
    assert rows["MAX_JOBS"]["value"] == 4 and rows["ENABLED"]["value"] is True
    assert rows["TOKEN"]["value"] is None and rows["TOKEN"]["is_set"] is True
    assert demo.get_setting("TOKEN") == SECRET and demo.get_setting("MAX_JOBS") == 4

    response = staff.patch(URL, {"MAX_JOBS": None}, format="json")
    assert by_key(response.json())["MAX_JOBS"] == {**rows["MAX_JOBS"], "value": 3, "is_set": False}


def test_bad_input_is_400_per_field_and_saves_nothing(demo, staff):
    response = staff.patch(
        URL, {"SITE_NAME": "Fine", "MAX_JOBS": 99, "NOPE": 1, "PIN": SECRET}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "settings.MAX_JOBS": ["Must be at most 10."],
        "settings.NOPE": [
            "Unknown setting; valid settings are ['ENABLED', 'ENDPOINT', 'MAX_JOBS', 'MODE', 'PIN', "
            "'RATIO', 'SITE_NAME', 'TAGS', 'TOKEN']."
        ],
        "settings.PIN": ["The value is not a whole number."],
    }
    assert not PluginSetting.objects.exists()
    response = staff.patch(URL, ["SITE_NAME"], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"settings": ["Expected an object of setting key -> value."]}


def test_patch_is_staff_only_and_anonymous_callers_are_refused(demo, student, client):
    response = student.patch(URL, {"SITE_NAME": "Mine"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only lab staff may change this."
    anonymous = APIClient()
    assert anonymous.get(URL).status_code in (401, 403)
    assert anonymous.patch(URL, {"SITE_NAME": "Mine"}, format="json").status_code in (401, 403)
    assert not PluginSetting.objects.exists()


def test_token_needs_the_plugins_write_scope_to_patch(demo):
    user = get_user_model().objects.create_user("robot", is_staff=True)
    _, raw = api_token_create(user=user, name="reader", scopes=["plugins:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(URL).status_code == 200
    response = client.patch(URL, {"SITE_NAME": "x"}, format="json")
    assert response.status_code == 403 and "plugins:write" in response.json()["detail"]


def test_unknown_plugin_is_404(demo, staff):
    response = staff.get("/api/plugins/nope/settings/")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Unknown plugin 'nope'; discovered plugins are [")
    assert staff.patch("/api/plugins/nope/settings/", {"A": 1}, format="json").status_code == 404


def test_schema_documents_the_settings_endpoint_and_validates(client, tmp_path):
    schema = client.get("/api/schema/").content.decode()
    assert "/api/plugins/{slug}/settings/:" in schema
    assert "PluginSetting:" in schema
    call_command("spectacular", "--validate", "--file", str(tmp_path / "schema.yml"))


def test_example_plugin_setting_through_its_real_entry_point(db, fresh_registries, staff, tmp_path):
    fresh_registries(activate=("folder-labels",))
    rows = staff.get("/api/plugins/folder-labels/settings/").json()
    assert [(r["key"], r["value"], r["is_set"]) for r in rows] == [("LABEL_FOOTER", None, False)]
    config = machine_create(
        name="Labels",
        machine_type="label-printer",
        driver="folder-labels",
        settings={"OUTPUT_DIR": str(tmp_path)},
    )
    machine = get_registry().get_machine(config.pk)
    assert machine.initialized, machine.state.errors
    machine.driver.print_label(machine, "first")

    response = staff.patch("/api/plugins/folder-labels/settings/", {"LABEL_FOOTER": "Lab 3"}, format="json")
    assert response.status_code == 200 and response.json()[0]["value"] == "Lab 3"
    machine.driver.print_label(machine, "second")
    assert sorted(p.read_text() for p in tmp_path.glob("*.txt")) == ["first", "second\nLab 3"]
