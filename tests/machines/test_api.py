"""The machines REST API: CRUD, validation, filters, settings, restart, types, drivers, registry."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from machines.machine_types.printer_3d import Printer3DStatus
from machines.machine_types.printer_state import PrinterState, PrinterStatus, PrinterUnreachable
from machines.models import MachineConfig, MachineSetting
from machines.registry import get_registry
from machines.services import machine_create
from mes.services import api_token_create

pytestmark = pytest.mark.django_db


def printer_payload(name="P1", **settings):
    return {
        "name": name,
        "machine_type": "printer-3d",
        "driver": "dummy-printer",
        "settings": {"HOST": "10.0.0.9", **settings},
    }


def test_create_and_read_machine_with_live_state(registry, staff):
    response = staff.post("/api/machines/", printer_payload(API_KEY="s3cret", NOZZLE_DIAMETER="0.6"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "P1"
    assert body["live"]["initialized"] is True
    assert body["live"]["errors"] == []
    setting = MachineSetting.objects.get(key="NOZZLE_DIAMETER")
    assert setting.config_type == "M" and setting.value == "0.6"

    detail = staff.get(f"/api/machines/{body['id']}/").json()
    assert detail["live"]["status"] == {
        "code": 500,
        "label": "Unknown",
        "colour": "secondary",
        "status_class": "unknown",
    }
    assert "s3cret" not in str(detail)


def test_unknown_type_and_driver_list_valid_choices(registry, staff):
    response = staff.post("/api/machines/", {**printer_payload(), "machine_type": "toaster"})
    assert response.status_code == 400
    assert "label-printer" in response.json()["errors"]["machine_type"][0]
    assert "printer-3d" in response.json()["errors"]["machine_type"][0]
    response = staff.post("/api/machines/", {**printer_payload(), "driver": "dummy-label"})
    assert response.status_code == 400
    assert response.json()["errors"]["driver"] == [
        "Unknown driver 'dummy-label' for machine type printer-3d; valid choices are "
        "['dummy-printer', 'moonraker', 'octoprint', 'prusalink']."  # dummy + the built-in drivers
    ]
    assert not MachineConfig.objects.exists()


def test_invalid_settings_are_reported_per_field_and_nothing_is_written(registry, staff):
    response = staff.post(
        "/api/machines/",
        printer_payload(PORT="http", NOZZLE_DIAMETER=9, MODE="turbo", LOADED_MATERIALS=5, COLOUR="red"),
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["settings.PORT"] == ["'http' is not a whole number."]
    assert errors["settings.NOZZLE_DIAMETER"] == ["Must be at most 2."]
    assert errors["settings.MODE"] == ["'turbo' is not one of ['fast', 'quiet']."]
    assert errors["settings.LOADED_MATERIALS"] == ["Expected a list of text values."]
    assert errors["settings.COLOUR"][0].startswith("Unknown setting; valid settings are [")
    assert "settings.HOST" not in errors
    assert not MachineConfig.objects.exists() and not MachineSetting.objects.exists()


def test_duplicate_and_blank_names_are_rejected(registry, staff):
    assert staff.post("/api/machines/", printer_payload("P1")).status_code == 201
    response = staff.post("/api/machines/", printer_payload("P1"))
    assert response.status_code == 400
    assert response.json()["errors"]["name"] == ["A machine named 'P1' already exists."]
    assert staff.post("/api/machines/", printer_payload("  ")).status_code == 400


def test_writes_are_staff_only_and_reads_need_login(registry, student):
    machine_create(name="P1", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"})
    assert student.get("/api/machines/").status_code == 200
    assert student.post("/api/machines/", printer_payload("P2")).status_code == 403
    machine = MachineConfig.objects.get()
    assert student.patch(f"/api/machines/{machine.pk}/", {"active": False}).status_code == 403
    assert student.delete(f"/api/machines/{machine.pk}/").status_code == 403
    assert student.post(f"/api/machines/{machine.pk}/restart/").status_code == 403
    assert student.patch(f"/api/machines/{machine.pk}/settings/", {"PORT": 1}).status_code == 403
    assert APIClient().get("/api/machines/").status_code in (401, 403)


def test_token_scopes_apply(registry):
    user = get_user_model().objects.create_user("bot", is_staff=True)
    _, read_only = api_token_create(user=user, name="ro", scopes=["machines:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_only}")
    assert client.get("/api/machines/").status_code == 200
    response = client.post("/api/machines/", printer_payload())
    assert response.status_code == 403
    assert "machines:write" in response.json()["detail"]


def test_settings_endpoint_masks_secrets_and_validates_per_field(registry, staff):
    machine = staff.post("/api/machines/", printer_payload(API_KEY="s3cret")).json()
    url = f"/api/machines/{machine['id']}/settings/"
    rows = {row["key"]: row for row in staff.get(url).json()}
    assert (
        rows["API_KEY"]["secret"] is True and rows["API_KEY"]["value"] is None and rows["API_KEY"]["is_set"]
    )
    assert rows["HOST"]["value"] == "10.0.0.9" and rows["HOST"]["config_type"] == "D"
    assert rows["BUILD_VOLUME_X"]["value"] == 220.0 and rows["BUILD_VOLUME_X"]["is_set"] is False

    response = staff.patch(url, {"PORT": 0, "TAGS": "fast, big"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"settings.PORT": ["Must be at least 1."]}  # as on create
    assert not MachineSetting.objects.filter(key="TAGS").exists()

    response = staff.patch(url, {"PORT": 8080, "TAGS": "fast, big"})
    assert response.status_code == 200
    rows = {row["key"]: row for row in response.json()}
    assert rows["PORT"]["value"] == 8080 and rows["TAGS"]["value"] == ["fast", "big"]

    response = staff.patch(url, {"HOST": None})
    assert response.status_code == 400
    assert response.json()["errors"] == {"settings.HOST": ["This setting is required and cannot be cleared."]}


def test_missing_required_setting_is_shown_as_error(registry, staff):
    payload = printer_payload()
    payload["settings"] = {}
    body = staff.post("/api/machines/", payload).json()
    assert body["live"]["errors"] == ["Missing required settings: HOST"]
    assert body["live"]["initialized"] is False


def test_change_driver_via_api_tears_down_and_reinitializes(registry, staff):
    machine = staff.post("/api/machines/", printer_payload()).json()
    response = staff.patch(
        f"/api/machines/{machine['id']}/", {"machine_type": "label-printer", "driver": "dummy-label"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["live"]["initialized"] is True
    printer_driver = get_registry().get_driver("dummy-printer")
    assert printer_driver.calls_for("P1") == ["init_machine", "teardown_machine"]
    response = staff.patch(f"/api/machines/{machine['id']}/", {"driver": "nope"})
    assert response.status_code == 400
    assert "['dummy-label']" in response.json()["errors"]["driver"][0]


def test_restart(registry, staff):
    machine = staff.post("/api/machines/", printer_payload()).json()
    response = staff.post(f"/api/machines/{machine['id']}/restart/")
    assert response.status_code == 200
    assert response.json()["restarted_here"] is True
    assert get_registry().get_driver("dummy-printer").calls_for("P1") == [
        "init_machine",
        "restart_machine",
        "teardown_machine",
        "init_machine",
    ]
    payload = printer_payload("P2")
    payload["settings"] = {}
    broken = staff.post("/api/machines/", payload).json()
    response = staff.post(f"/api/machines/{broken['id']}/restart/")
    assert response.status_code == 400
    assert "Missing required settings: HOST" in response.json()["errors"]["machine"][0]


def _poll_all():
    registry = get_registry()
    for machine in registry.machines():
        registry.poll(machine)


def test_filters_are_correct(registry, staff):
    for name in ("Idle", "Gone", "Off"):
        staff.post("/api/machines/", printer_payload(name))
    staff.post("/api/machines/", {"name": "Labels", "machine_type": "label-printer", "driver": "dummy-label"})
    staff.patch(f"/api/machines/{MachineConfig.objects.get(name='Off').pk}/", {"active": False})
    driver = get_registry().get_driver("dummy-printer")
    driver.states["Gone"] = PrinterUnreachable("no route to host")
    driver.states["Idle"] = PrinterState(status=PrinterStatus.IDLE)
    _poll_all()

    def names(query):
        response = staff.get(f"/api/machines/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(m["name"] for m in response.json()["results"])

    assert names("machine_type=printer-3d") == ["Gone", "Idle", "Off"]
    assert names("machine_type=label-printer") == ["Labels"]
    assert names("driver=dummy-label") == ["Labels"]
    assert names("active=false") == ["Off"]
    assert names("active=true&machine_type=printer-3d") == ["Gone", "Idle"]
    assert names("status_class=ok") == ["Idle"]
    assert names("status_class=machine_fault") == ["Gone"]
    assert names("status_class=unknown") == ["Labels", "Off"]
    assert names("search=gon") == ["Gone"]
    bad = staff.get("/api/machines/?status_class=terrible")
    assert bad.status_code == 400 and "status_class" in bad.json()["errors"]


def test_types_drivers_and_registry_endpoints(registry, staff):
    types = {t["slug"]: t for t in staff.get("/api/machines/types/").json()}
    assert types["printer-3d"]["drivers"] == ["dummy-printer", "moonraker", "octoprint", "prusalink"]
    paused = next(s for s in types["printer-3d"]["statuses"] if s["name"] == "PAUSED")
    assert paused == {
        "code": 200,
        "name": "PAUSED",
        "label": "Paused",
        "colour": "warning",
        "status_class": "warning",
    }
    assert {s["key"] for s in types["printer-3d"]["settings"]} >= {
        "NOZZLE_DIAMETER",
        "LOADED_MATERIALS",
        "TAGS",
    }
    drivers = staff.get("/api/machines/drivers/").json()
    dummy = next(d for d in drivers["drivers"] if d["slug"] == "dummy-printer")
    assert dummy["plugin"] == "dummy" and {s["key"] for s in dummy["settings"]} == {
        "HOST",
        "API_KEY",
        "PORT",
        "MODE",
    }
    body = staff.get("/api/machines/registry/").json()
    assert body["loaded"] is True and body["generation"] is not None
    assert "dummy-printer" in body["drivers"]


def test_list_uses_constant_queries(registry, staff, django_assert_num_queries):
    def create(count):
        existing = MachineConfig.objects.count()
        for index in range(existing, count):
            MachineConfig.objects.create(
                name=f"M{index:03}", machine_type="label-printer", driver="dummy-label"
            )
        get_registry()
        _poll_all()
        get_registry().check_interval = 3600  # keep the throttled generation check out of the count

    create(3)
    staff.get("/api/machines/?limit=1000")  # warm up
    # count + page (machines joined with their persisted state) + one cache read (a query on the DB cache)
    from django.conf import settings

    expected = 3 if settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache") else 2
    with django_assert_num_queries(expected):
        response = staff.get("/api/machines/?limit=1000")
    assert len(response.json()["results"]) == 3
    create(300)
    with django_assert_num_queries(expected):
        response = staff.get("/api/machines/?limit=1000")
    assert len(response.json()["results"]) == 300
    assert all(m["live"]["initialized"] for m in response.json()["results"])
    # the status class filter reads the machines and their states once more
    with django_assert_num_queries(expected + (2 if expected == 3 else 1)):
        response = staff.get("/api/machines/?limit=1000&status_class=unknown")
    assert len(response.json()["results"]) == 300


def test_delete_machine(registry, staff):
    machine = staff.post("/api/machines/", printer_payload()).json()
    assert staff.delete(f"/api/machines/{machine['id']}/").status_code == 204
    assert staff.get(f"/api/machines/{machine['id']}/").status_code == 404
    assert get_registry().get_driver("dummy-printer").calls_for("P1") == ["init_machine", "teardown_machine"]


def test_printer_status_labels_in_list(registry, staff):
    staff.post("/api/machines/", printer_payload())
    get_registry().get_driver("dummy-printer").states["P1"] = PrinterState(
        status=PrinterStatus.AWAITING_BED_CLEAR
    )
    _poll_all()
    live = staff.get("/api/machines/").json()["results"][0]["live"]
    assert live["status"]["code"] == Printer3DStatus.AWAITING_BED_CLEAR
    assert live["status"]["label"] == "Awaiting bed clear" and live["status"]["status_class"] == "warning"
    assert live["stale"] is False and live["last_seen"]
