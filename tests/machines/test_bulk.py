"""Registering many machines at once: the API's bulk create and the CSV import, all or none, with one
registry reload per batch (one by one, each create reloaded the whole registry: O(N²))."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from machines.models import MachineConfig, MachineSetting
from machines.registry import get_registry
from machines.services import machine_create, machines_create_many
from machines.signals import registry_reloaded
from tests.machines.test_api import printer_payload

pytestmark = pytest.mark.django_db


def rows(count: int, start: int = 0) -> list[dict]:
    return [
        {
            "name": f"P{n:04d}",
            "machine_type": "printer-3d",
            "driver": "dummy-printer",
            "settings": {"HOST": f"h{n}"},
        }
        for n in range(start, start + count)
    ]


def test_staff_register_a_fleet_in_one_request(registry, staff):
    payload = [printer_payload(f"P{n}", PORT=8000 + n) for n in range(3)]
    payload[2]["active"] = False
    response = staff.post("/api/machines/bulk/", payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [m["name"] for m in body] == ["P0", "P1", "P2"]
    assert [m["active"] for m in body] == [True, True, False]
    machine = get_registry().get_machine(MachineConfig.objects.get(name="P1").pk)
    assert machine.get_setting("PORT") == 8001 and machine.get_setting("HOST") == "10.0.0.9"
    assert machine.get_setting("MODE") == "fast"  # defaults are not stored, as for a single create


def test_the_registry_reloads_once_per_batch_and_queries_do_not_grow_per_machine(registry):
    reloads = []

    def count(**kwargs):
        reloads.append(kwargs["generation"])

    registry_reloaded.connect(count)
    try:
        with CaptureQueriesContext(connection) as small:
            machines_create_many(machines=rows(20))
        get_registry()
        with CaptureQueriesContext(connection) as large:
            machines_create_many(machines=rows(400, start=100))
        get_registry()
    finally:
        registry_reloaded.disconnect(count)
    assert len(reloads) == 2  # one per batch, not one per machine
    assert len(get_registry().machines()) == 420
    # Bulk inserts in batches: 20x the machines costs a handful of queries more, not 20x.
    assert len(large) <= len(small) + 4, (len(small), len(large))


def test_errors_name_the_row_and_nothing_is_written(registry, staff):
    machine_create(name="Taken", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "a"})
    payload = [
        printer_payload("Fine"),
        printer_payload("Taken"),
        printer_payload("Twice"),
        printer_payload("Twice"),
        {**printer_payload("NoDriver"), "driver": "nope"},
        printer_payload("BadPort", PORT=0),
    ]
    response = staff.post("/api/machines/bulk/", payload, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["1.name"] == ["A machine named 'Taken' already exists."]
    assert errors["3.name"] == ["Row 2 has the same name."]
    assert "dummy-printer" in errors["4.driver"][0]
    assert errors["5.settings.PORT"] == ["Must be at least 1."]
    assert "0.name" not in errors
    assert list(MachineConfig.objects.values_list("name", flat=True)) == ["Taken"]
    assert MachineSetting.objects.count() == 1


def test_a_body_that_is_not_a_list_is_a_400_saying_so(registry, staff):
    response = staff.post("/api/machines/bulk/", {"name": "P"}, format="json")
    assert response.status_code == 400
    assert "Send a JSON list of machines." in response.json()["detail"]
    assert not MachineConfig.objects.exists()


def test_a_row_without_a_driver_is_a_400_naming_the_row(registry, staff):
    response = staff.post("/api/machines/bulk/", [{"name": "P", "machine_type": "printer-3d"}], format="json")
    assert response.status_code == 400
    assert "0.driver" in response.json()["errors"]
    assert not MachineConfig.objects.exists()


def test_students_cannot_register_machines(registry, student):
    response = student.post("/api/machines/bulk/", [printer_payload("P")], format="json")
    assert response.status_code == 403
    assert not MachineConfig.objects.exists()


def test_csv_import_registers_every_row_with_its_settings(registry, tmp_path, capsys):
    path = tmp_path / "fleet.csv"
    path.write_text(
        "name,machine_type,driver,active,HOST,PORT\n"
        "mk4-01,printer-3d,dummy-printer,true,10.0.0.21,8080\n"
        "mk4-02,printer-3d,dummy-printer,false,10.0.0.22,\n"
    )
    call_command("import_machines", str(path))
    assert "Registered 2 machine(s)" in capsys.readouterr().out
    first = get_registry().get_machine(MachineConfig.objects.get(name="mk4-01").pk)
    assert first.get_setting("HOST") == "10.0.0.21" and first.get_setting("PORT") == 8080
    second = MachineConfig.objects.get(name="mk4-02")
    assert second.active is False
    assert get_registry().get_machine(second.pk).get_setting("PORT") == 80  # empty cell: the default


def test_csv_import_names_the_lines_at_fault_and_imports_nothing(registry, tmp_path):
    path = tmp_path / "fleet.csv"
    path.write_text(
        "name,machine_type,driver,HOST,PORT\n"
        "ok,printer-3d,dummy-printer,h,80\n"
        "bad-port,printer-3d,dummy-printer,h,99999\n"
        "no-host,printer-3d,dummy-printer,,\n"
    )
    with pytest.raises(CommandError) as caught:
        call_command("import_machines", str(path))
    message = str(caught.value)
    assert "nothing imported" in message
    assert "line 3: settings.PORT: Must be at most 65535." in message
    assert not MachineConfig.objects.exists()


def test_csv_without_the_required_columns_is_refused(registry, tmp_path):
    path = tmp_path / "fleet.csv"
    path.write_text("name,driver\nx,dummy-printer\n")
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("import_machines", str(path))
