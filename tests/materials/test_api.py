"""Materials over the API: everyone signed in reads (availability), staff write, every bad input is a 4xx."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from materials.models import Spool
from materials.services import spool_create, spool_load
from tests.materials.conftest import client_for

pytestmark = pytest.mark.django_db


def test_students_read_types_spools_stock_and_whats_loaded_but_cannot_write(pla, student, machine):
    spool = spool_create(
        material="PLA", initial_grams=Decimal("1000"), remaining_grams=Decimal("300"), colour_name="Black"
    )
    spool_load(spool=spool, machine=machine)
    api = client_for(student)
    assert [t["name"] for t in api.get("/api/materials/types/").json()["results"]] == ["PLA"]
    [row] = api.get("/api/materials/spools/").json()["results"]
    assert row["loaded_on"]["machine_name"] == "mk4" and row["remaining_grams"] == "300.00"
    assert api.get("/api/materials/stock/").json() == [
        {"material": "PLA", "remaining_grams": "300.00", "low_stock_grams": "500.00", "low_stock": True}
    ]
    [loaded] = api.get("/api/materials/loaded/?material=pla").json()
    assert (loaded["machine_name"], loaded["material"], loaded["low_stock"]) == ("mk4", "PLA", True)
    assert api.post("/api/materials/spools/", {"material": "PLA", "initial_grams": "1000"}).status_code == 403
    assert api.post(f"/api/materials/spools/{spool.pk}/unload/").status_code == 403
    assert api.delete(f"/api/materials/types/{pla.pk}/").status_code == 403


def test_staff_writes_and_each_bad_input_is_a_clear_4xx(pla, staff, machine, other_machine):
    api = client_for(staff)
    created = api.post(
        "/api/materials/spools/", {"material": "pla", "initial_grams": "1000", "colour_hex": "#ff8800"}
    )
    assert created.status_code == 201 and created.json()["colour_hex"] == "#FF8800"
    spool_id = created.json()["id"]
    unknown = api.post("/api/materials/spools/", {"material": "PTEG", "initial_grams": "1000"})
    assert unknown.status_code == 400 and unknown.json()["detail"] == "unknown material 'PTEG' (known: PLA)"
    negative = api.post("/api/materials/spools/", {"material": "PLA", "initial_grams": "-1"})
    assert negative.status_code == 400 and "initial_grams" in negative.json()["errors"]
    loaded = api.post(f"/api/materials/spools/{spool_id}/load/", {"machine": str(machine.pk), "tool": 0})
    assert loaded.status_code == 200 and loaded.json()["loaded_by"] == "tech"
    elsewhere = api.post(f"/api/materials/spools/{spool_id}/load/", {"machine": str(other_machine.pk)})
    assert elsewhere.status_code == 409 and "already loaded on mk4 T0" in elsewhere.json()["detail"]
    in_use = api.delete(f"/api/materials/spools/{spool_id}/")
    assert in_use.status_code == 409 and "unload it first" in in_use.json()["detail"]
    no_machine = api.post(
        f"/api/materials/spools/{spool_id}/load/", {"machine": "00000000-0000-0000-0000-000000000000"}
    )
    assert no_machine.status_code == 400
    assert api.post(f"/api/materials/spools/{spool_id}/unload/", {"location": "Shelf C"}).status_code == 200
    history = api.get(f"/api/materials/spools/{spool_id}/history/").json()
    assert history[0]["unloaded_by"] == "tech"
    assert api.delete(f"/api/materials/types/{pla.pk}/").status_code == 400  # spools use it
    assert api.post("/api/materials/types/", {"name": "pla", "density": "1.2"}).status_code == 400


def test_csv_upload_imports_all_or_reports_every_row(pla, staff):
    api = client_for(staff)
    good = "material,initial_grams,colour_name,label_id\nPLA,1000,Black,SP-1\nPLA,750,White,SP-2\n"
    response = api.post(
        "/api/materials/spools/import/",
        {"file": SimpleUploadedFile("spools.csv", good.encode())},
        format="multipart",
    )
    assert response.status_code == 201 and [s["label_id"] for s in response.json()] == ["SP-1", "SP-2"]
    bad = "material,initial_grams\nPLA,abc\nNYLON,10\n"
    response = api.post(
        "/api/materials/spools/import/",
        {"file": SimpleUploadedFile("bad.csv", bad.encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "import_rejected"
    assert response.json()["errors"] == {
        "row.2": ["initial_grams 'abc' is not a number"],
        "row.3": ["unknown material 'NYLON' (known: PLA)"],
    }
    binary = api.post(
        "/api/materials/spools/import/",
        {"file": SimpleUploadedFile("x.csv", b"\xff\xfe\x00")},
        format="multipart",
    )
    assert binary.status_code == 400
    assert Spool.objects.count() == 2


def test_the_openapi_schema_documents_the_materials_and_maintenance_endpoints(staff):
    schema = client_for(staff).get("/api/schema/?format=json").json()
    for path in (
        "/api/materials/spools/{id}/load/",
        "/api/materials/spools/import/",
        "/api/materials/stock/",
        "/api/maintenance/machines/{id}/start/",
        "/api/maintenance/machines/{id}/out-of-order/",
    ):
        assert path in schema["paths"], path
