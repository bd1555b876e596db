"""Maintenance over the API: students read, staff write, errors are 4xx with the reason."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from machines.models import MachineConfig
from maintenance.models import MaintenancePlan

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def users(db):
    model = get_user_model()
    return model.objects.create_user("tech", is_staff=True), model.objects.create_user("stud")


@pytest.fixture
def machine(db):
    return MachineConfig.objects.create(name="mk4", machine_type="printer-3d", driver="simulator")


def test_staff_put_a_machine_into_maintenance_and_students_see_it(users, machine):
    staff, student = users
    url = f"/api/maintenance/machines/{machine.pk}/"
    assert client_for(student).post(url + "start/", {"reason": "mine now"}).status_code == 403
    response = client_for(staff).post(url + "start/", {"reason": "belt swap"})
    assert response.status_code == 201, response.content
    body = client_for(student).get(url).json()
    assert body["in_maintenance"] and body["maintenance"]["reason"] == "belt swap"
    again = client_for(staff).post(url + "start/", {"reason": "twice"})
    assert again.status_code == 409 and "already in maintenance" in again.json()["detail"]
    assert client_for(staff).post(url + "start/", {}).status_code == 400
    assert client_for(staff).post(url + "end/").status_code == 200


def test_plans_work_done_and_out_of_order_over_the_api(users, machine):
    staff, student = users
    api = client_for(staff)
    bad = api.post("/api/maintenance/plans/", {"name": "x", "machine_type": "printer-3d"})
    assert bad.status_code == 400 and "every_print_hours" in str(bad.json())
    both = api.post(
        "/api/maintenance/plans/",
        {"name": "x", "machine_type": "printer-3d", "machine": str(machine.pk), "every_days": 3},
    )
    assert both.status_code == 400
    plan = api.post(
        "/api/maintenance/plans/", {"name": "Lube", "machine_type": "printer-3d", "every_print_hours": 200}
    )
    assert plan.status_code == 201
    status = client_for(student).get(f"/api/maintenance/machines/{machine.pk}/").json()
    assert [(p["name"], p["status"]) for p in status["plans"]] == [("Lube", "ok")]
    done = api.post(
        f"/api/maintenance/machines/{machine.pk}/complete/", {"plan": plan.json()["id"], "notes": "ok"}
    )
    assert done.status_code == 201 and done.json()["done_by"] == "tech"
    report = api.post(f"/api/maintenance/machines/{machine.pk}/out-of-order/", {"reason": "smells burnt"})
    assert report.status_code == 201
    assert client_for(student).get(f"/api/maintenance/machines/{machine.pk}/").json()["in_maintenance"]
    resolved = api.post(
        f"/api/maintenance/reports/{report.json()['id']}/resolve/", {"resolution": "fan replaced"}
    )
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "tech"
    assert MaintenancePlan.objects.count() == 1


def test_staff_take_a_machine_out_and_back_from_the_fleet_board(users, machine):
    from django.test import Client

    from maintenance.selectors import maintenance_reasons_by_machine

    staff, student = users
    browser = Client()
    browser.force_login(staff)
    board = browser.get("/fleet/").content.decode()
    assert f'id="maintenance-{machine.pk}"' in board
    response = browser.post(f"/fleet/{machine.pk}/maintenance/start/", {"reason": "nozzle swap"})
    assert response.status_code == 302
    assert maintenance_reasons_by_machine([machine.pk]) == {str(machine.pk): "nozzle swap"}
    assert "In maintenance" in browser.get("/fleet/live/").content.decode()
    again = browser.post(f"/fleet/{machine.pk}/maintenance/start/", {"reason": "again"})
    assert again.status_code == 409 and "already in maintenance" in again.content.decode()
    assert browser.post(f"/fleet/{machine.pk}/maintenance/end/").status_code == 302
    assert maintenance_reasons_by_machine([machine.pk]) == {}
    assert browser.post(f"/fleet/{machine.pk}/maintenance/explode/").status_code == 404
    pupil = Client()
    pupil.force_login(student)
    assert pupil.post(f"/fleet/{machine.pk}/maintenance/start/", {"reason": "x"}).status_code in (302, 403)
    assert maintenance_reasons_by_machine([machine.pk]) == {}


def test_an_open_maintenance_has_no_ender_and_the_schema_says_so(users, machine):
    """Schemathesis found the open maintenance's ended_by (null) declared as a non-null string."""
    staff, _ = users
    url = f"/api/maintenance/machines/{machine.pk}/"
    client_for(staff).post(url + "start/", {"reason": "belt swap"})
    mode = client_for(staff).get(url).json()["maintenance"]
    assert mode["ended_by"] is None and mode["ended_at"] is None and mode["started_by"] == "tech"
    schema = client_for(staff).get("/api/schema/?format=json").json()["components"]["schemas"]
    for field in ("started_by", "ended_by"):
        assert schema["Mode"]["properties"][field]["nullable"] is True
    assert schema["Record"]["properties"]["done_by"]["nullable"] is True
