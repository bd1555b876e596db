"""Staff load, unload, import and label spools in the admin; refusals show on the form, not as a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from materials.models import Spool, SpoolLoad
from materials.services import spool_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("boss", "", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_loading_and_unloading_in_the_admin_keeps_the_history(admin_client, pla, machine, other_machine):
    spool = spool_create(material="PLA", initial_grams=Decimal("1000"))
    response = admin_client.post(
        "/admin/materials/spoolload/add/", {"spool": spool.pk, "machine": machine.pk, "tool": 0}
    )
    assert response.status_code == 302
    load = SpoolLoad.objects.get()
    assert (load.machine, load.loaded_by.username) == (machine, "boss")
    refused = admin_client.post(
        "/admin/materials/spoolload/add/", {"spool": spool.pk, "machine": other_machine.pk, "tool": 0}
    )
    assert refused.status_code == 200 and "already loaded on mk4 T0" in refused.content.decode()
    admin_client.post("/admin/materials/spoolload/", {"action": "unload", "_selected_action": [load.pk]})
    load.refresh_from_db()
    assert load.unloaded_by.username == "boss"


def test_labels_and_csv_import_in_the_admin(admin_client, pla):
    spools = [spool_create(material="PLA", initial_grams=Decimal("1000"), label_id=f"SP-{n}") for n in (1, 2)]
    response = admin_client.post(
        "/admin/materials/spool/", {"action": "print_labels", "_selected_action": [s.pk for s in spools]}
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.count('class="label"') == 2 and "<svg" in html
    assert "SP-1" in html and "style=" not in html
    bad = admin_client.post(
        "/admin/materials/spool/import/",
        {"file": SimpleUploadedFile("s.csv", b"material,initial_grams\nABS,5\n")},
    )
    assert bad.status_code == 400 and "Row 2: unknown material" in bad.content.decode()
    good = admin_client.post(
        "/admin/materials/spool/import/",
        {"file": SimpleUploadedFile("s.csv", b"material,initial_grams\nPLA,750\n")},
    )
    assert good.status_code == 302 and Spool.objects.count() == 3
    assert admin_client.get("/admin/materials/spool/").status_code == 200
    assert admin_client.get("/admin/materials/materialtype/").status_code == 200
    assert admin_client.get("/admin/maintenance/maintenancemode/").status_code == 200
