"""The plugins API: list with errors, activate/deactivate for staff only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from machines.registry import get_registry
from plugins.models import PluginConfig
from tests.machines.dummy import BrokenDriversPlugin, DummyPlugin

pytestmark = pytest.mark.django_db


def client_for(staff: bool) -> APIClient:
    user = get_user_model().objects.create_user("staff" if staff else "student", is_staff=staff)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_list_shows_plugins_and_their_errors(fresh_registries):
    fresh_registries(DummyPlugin, BrokenDriversPlugin, activate=("broken-drivers",))
    body = client_for(staff=False).get("/api/plugins/").json()
    plugins = {p["slug"]: p for p in body["plugins"]}
    assert plugins["folder-labels"]["active"] is False
    assert plugins["folder-labels"]["source"] == "entry-point:folder-labels (mes-plugin-example)"
    assert plugins["dummy"]["active"] is False and plugins["dummy"]["mixins"] == ["machine"]
    broken = plugins["broken-drivers"]
    assert broken["active"] is True
    assert {
        "plugin": "broken-drivers",
        "reason": "driver no-label-method: missing required override(s): print_label or print_labels",
        "source": "",
    } in broken["errors"]
    assert any(e["plugin"] == "broken-drivers" for e in body["errors"])
    registry_body = client_for_existing("staff2").get("/api/machines/registry/").json()
    assert any(e["plugin"] == "broken-drivers" for e in registry_body["errors"])


def client_for_existing(name: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user(name, is_staff=True))
    return client


def test_activate_and_deactivate_are_staff_only_and_take_effect(fresh_registries):
    fresh_registries(DummyPlugin, activate=())
    student = client_for(staff=False)
    assert student.post("/api/plugins/dummy/activate/").status_code == 403
    assert not PluginConfig.objects.filter(slug="dummy", active=True).exists()

    staff = client_for(staff=True)
    response = staff.post("/api/plugins/dummy/activate/")
    assert response.status_code == 200 and response.json()["active"] is True
    assert "dummy-printer" in get_registry().drivers
    drivers = staff.get("/api/machines/drivers/").json()["drivers"]
    assert "dummy-printer" in [d["slug"] for d in drivers]

    assert staff.post("/api/plugins/dummy/deactivate/").json()["active"] is False
    assert "dummy-printer" not in get_registry().drivers


def test_unknown_plugins_get_a_clear_404(fresh_registries):
    fresh_registries(DummyPlugin, activate=())
    staff = client_for(staff=True)
    response = staff.post("/api/plugins/nope/activate/")
    assert response.status_code == 404  # as for its settings: no such plugin here
    assert response.json()["detail"].startswith("Unknown plugin 'nope'; discovered plugins are [")
    assert staff.get("/api/plugins/nope/settings/").status_code == 404
