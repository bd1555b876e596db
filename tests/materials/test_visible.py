"""What staff and students see of materials: the safety margin setting, colour by hex, the need in the
API, the fleet board's spools, low-stock warning and service state, and the admin's badges."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client, override_settings

from jobs.preflight import JobConstraints
from jobs.services.scheduler import schedule_run
from maintenance.models import MachineCounters, MaintenancePlan
from materials.services import spool_create, spool_load
from tests.jobs.dispatch_support import submit_job
from tests.materials import slicer_files
from tests.materials.conftest import client_for

pytestmark = pytest.mark.django_db


def reason(user) -> str:
    return client_for(user).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"]


def test_the_safety_margin_is_the_labs_setting(farm, petg, student):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool_load(
        spool=spool_create(material="PETG", initial_grams=Decimal("1000"), remaining_grams=Decimal("48")),
        machine=mk4,
    )
    job = submit_job(student, name="petg-part", content=slicer_files.orcaslicer())  # 42.82 g
    assert client_for(student).get(f"/api/jobs/{job.pk}/").json()["filament_need"] == {
        "known": True,
        "tools": [{"tool": 0, "material": "PETG", "grams": 42.82}],
        "note": "",
    }
    assert schedule_run() == [] and reason(student) == "waiting: no loaded PETG spool with ≥ 52 g"
    with override_settings(MATERIALS_SAFETY_MARGIN_PERCENT=20, MATERIALS_SAFETY_MARGIN_GRAMS=0):
        assert schedule_run() == [] and reason(student) == "waiting: no loaded PETG spool with ≥ 51 g"
    with override_settings(MATERIALS_SAFETY_MARGIN_PERCENT=0, MATERIALS_SAFETY_MARGIN_GRAMS=5):
        [done] = schedule_run()  # 42.82 + 5 = 47.82 g ≤ 48 g
    assert done.pk == job.pk


def test_a_colour_asked_for_as_hex_matches_the_spools_hex(farm, petg, student):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    orange = spool_create(
        material="PETG", initial_grams=Decimal("900"), colour_name="Orange", colour_hex="#F26B1D"
    )
    spool_load(spool=orange, machine=mk4)
    constraints = JobConstraints(colour="#f26b1d")
    submit_job(student, name="hex", content=slicer_files.orcaslicer(), constraints=constraints)
    assert len(schedule_run()) == 1


def test_the_fleet_board_shows_spools_low_stock_and_service_state(pla, staff, machine, other_machine):
    black = spool_create(
        material="PLA",
        initial_grams=Decimal("1000"),
        remaining_grams=Decimal("320"),
        colour_name="Galaxy Black",
    )
    spool_load(spool=black, machine=machine, tool=0)
    MaintenancePlan.objects.create(name="Lubricate rods", machine_type="printer-3d", every_print_hours=200)
    MachineCounters.objects.create(
        machine=other_machine, commissioned_at=other_machine.created_at, print_seconds=186 * 3600
    )
    browser = Client()
    browser.force_login(staff)
    html = browser.get("/fleet/live/").content.decode()
    assert (
        "T0 <strong>PLA</strong> Galaxy Black" in html
        and '<span class="spool-remaining">320 g</span>' in html
    )
    assert '<span class="badge warning">low stock</span>' in html  # 320 g of PLA, threshold 500 g
    assert "Low stock</span> PLA: 320 g left on all spools (threshold 500 g)" in html
    assert '<span class="badge warning">Service due</span> <span class="muted">Lubricate rods</span>' in html
    assert "No spool loaded" in html  # the other machine


def test_the_admin_shows_stock_remaining_and_maintenance_badges(pla, staff, machine):
    from maintenance.services import maintenance_start

    admin = Client()
    admin.force_login(type(staff).objects.create_superuser("boss", "", "pw"))
    spool_create(material="PLA", initial_grams=Decimal("1000"), remaining_grams=Decimal("100"))
    maintenance_start(machine=machine, reason="belt swap", user=staff)
    types = admin.get("/admin/materials/materialtype/").content.decode()
    assert '<span class="mes-badge mes-badge-warning">100 g · low</span>' in types
    spools = admin.get("/admin/materials/spool/").content.decode()
    assert '<span class="mes-badge mes-badge-warning">100 g (10%)</span>' in spools
    modes = admin.get("/admin/maintenance/maintenancemode/").content.decode()
    assert '<span class="mes-badge mes-badge-danger">in maintenance</span>' in modes


def test_the_admin_refuses_to_delete_a_spool_in_use_with_the_reason(pla, machine):
    from django.contrib.auth import get_user_model

    from materials.models import Spool, SpoolLoad
    from materials.services import ToolUse, job_usage_deduct, spool_unload

    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", "", "pw"))
    spool = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_load(spool=spool, machine=machine)
    url = f"/admin/materials/spool/{spool.pk}/delete/"
    refused = admin.post(url, {"post": "yes"}, follow=True)
    assert refused.redirect_chain == [(f"/admin/materials/spool/{spool.pk}/change/", 302)]
    assert (
        f"Cannot delete: spool {spool.label} is loaded on mk4 T0; unload it first."
        in refused.content.decode()
    )
    spool_unload(spool=spool)  # loaded once, never printed from: it may go, with its load history
    assert "Are you sure you want to delete the spool" in admin.get(url).content.decode()
    assert admin.post(url, {"post": "yes"}).status_code == 302
    assert not Spool.objects.filter(pk=spool.pk).exists() and not SpoolLoad.objects.exists()

    used = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_load(spool=used, machine=machine)
    job_usage_deduct(
        job_id="00000000-0000-0000-0000-000000000001", machine_id=machine.pk, uses=[ToolUse(0, 5.0)]
    )
    spool_unload(spool=used)
    html = admin.get(f"/admin/materials/spool/{used.pk}/delete/", follow=True).content.decode()
    assert "has print history (jobs took filament from it); archive it instead." in html
    assert Spool.objects.filter(pk=used.pk).exists()
