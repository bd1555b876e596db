"""Spools: created, loaded, unloaded with history, refused where it would make no sense; CSV import."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from materials.exceptions import ImportRejected, MaterialsError, SpoolConflict
from materials.models import Spool, SpoolDeduction, SpoolLoad
from materials.selectors import loaded_spools_by_machine, stock_by_material
from materials.services import (
    ToolUse,
    job_usage_deduct,
    spool_create,
    spool_delete,
    spool_load,
    spool_unload,
    spools_import_csv,
)

pytestmark = pytest.mark.django_db


def test_a_new_spool_is_full_and_unknown_material_or_negative_grams_are_refused(pla):
    spool = spool_create(
        material="pla", initial_grams=Decimal("1000"), colour_name="Black", colour_hex="#1b1b1f"
    )
    assert (spool.material, spool.remaining_grams, spool.colour_hex) == (pla, Decimal("1000"), "#1B1B1F")
    with pytest.raises(MaterialsError, match="unknown material 'PTEG' \\(known: PLA\\)"):
        spool_create(material="PTEG", initial_grams=Decimal("1000"))
    with pytest.raises(MaterialsError, match="initial_grams"):
        spool_create(material="PLA", initial_grams=Decimal("-5"))
    with pytest.raises(MaterialsError, match="cannot exceed"):
        spool_create(material="PLA", initial_grams=Decimal("100"), remaining_grams=Decimal("200"))
    with pytest.raises(MaterialsError, match="#RRGGBB"):
        spool_create(material="PLA", initial_grams=Decimal("100"), colour_hex="orange")
    assert Spool.objects.count() == 1


def test_load_unload_keeps_the_history_with_time_and_person(pla, machine, staff):
    spool = spool_create(material="PLA", initial_grams=Decimal("1000"))
    load = spool_load(spool=spool, machine=machine, tool=0, user=staff)
    assert loaded_spools_by_machine([machine.pk])[str(machine.pk)][0].spool_id == spool.pk
    spool_unload(spool=spool, user=staff, location="Shelf B")
    load.refresh_from_db()
    assert load.loaded_by == staff and load.unloaded_by == staff and load.unloaded_at >= load.loaded_at
    spool_load(spool=spool, machine=machine, tool=1, user=staff)
    assert SpoolLoad.objects.filter(spool=spool).count() == 2
    assert Spool.objects.get(pk=spool.pk).location == "Shelf B"


def test_a_spool_loaded_elsewhere_is_refused_and_a_taken_tool_is_swapped(pla, machine, other_machine, staff):
    first = spool_create(material="PLA", initial_grams=Decimal("1000"))
    second = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_load(spool=first, machine=machine, tool=0, user=staff)
    with pytest.raises(SpoolConflict, match="already loaded on mk4 T0; unload it there first"):
        spool_load(spool=first, machine=other_machine, tool=0, user=staff)
    spool_load(spool=second, machine=machine, tool=0, user=staff)  # swap: first comes off
    assert [s.spool_id for s in loaded_spools_by_machine([machine.pk])[str(machine.pk)]] == [second.pk]
    assert SpoolLoad.objects.get(spool=first).unloaded_by == staff
    with pytest.raises(SpoolConflict, match="not loaded"):
        spool_unload(spool=first, user=staff)


def test_deleting_a_spool_in_use_or_with_history_is_refused(pla, machine, staff):
    spool = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_load(spool=spool, machine=machine, user=staff)
    with pytest.raises(SpoolConflict, match="loaded on mk4 T0; unload it first"):
        spool_delete(spool=spool)
    job_usage_deduct(
        job_id="00000000-0000-0000-0000-000000000001", machine_id=machine.pk, uses=[ToolUse(0, 10.0)]
    )
    spool_unload(spool=spool)
    with pytest.raises(SpoolConflict, match="archive it instead"):
        spool_delete(spool=spool)
    assert Spool.objects.filter(pk=spool.pk).exists()
    unused = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_delete(spool=unused)
    assert not Spool.objects.filter(pk=unused.pk).exists()


def test_a_jobs_usage_is_deducted_once_however_often_it_is_reported(pla, machine):
    spool = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_load(spool=spool, machine=machine)
    job = "11111111-2222-3333-4444-555555555555"
    first = job_usage_deduct(job_id=job, machine_id=machine.pk, uses=[ToolUse(0, 42.5)], fraction=0.5)
    again = job_usage_deduct(job_id=job, machine_id=machine.pk, uses=[ToolUse(0, 42.5)])
    assert [row.grams for row in first] == [Decimal("21.25")] and again == []
    spool.refresh_from_db()
    assert spool.remaining_grams == Decimal("978.75")
    assert SpoolDeduction.objects.filter(job_id=job).count() == 1


def test_deduction_never_goes_below_zero_and_unknown_need_deducts_nothing(pla, machine):
    spool = spool_create(material="PLA", initial_grams=Decimal("10"))
    spool_load(spool=spool, machine=machine)
    job_usage_deduct(
        job_id="00000000-0000-0000-0000-00000000000a", machine_id=machine.pk, uses=[ToolUse(0, 42.0)]
    )
    spool.refresh_from_db()
    assert spool.remaining_grams == 0
    rows = job_usage_deduct(
        job_id="00000000-0000-0000-0000-00000000000b", machine_id=machine.pk, uses=[ToolUse(0, None)]
    )
    assert rows[0].grams == 0 and rows[0].note == "need unknown: nothing deducted"


CSV_OK = """material,colour_name,colour_hex,vendor,initial_grams,remaining_grams,lot,cost_per_kg,location,label_id
PLA,Galaxy Black,#1B1B1F,Prusament,1000,640,L-2024-07,24.99,Shelf A1,SP-0001
petg,Orange,#F26B1D,Prusament,1000,,L-2024-08,"29,99",Shelf A2,SP-0002
"""


def test_csv_import_adds_every_row(pla, petg):
    spools = spools_import_csv(text=CSV_OK)
    assert [(s.material.name, s.remaining_grams, s.label_id) for s in spools] == [
        ("PLA", Decimal("640"), "SP-0001"),
        ("PETG", Decimal("1000"), "SP-0002"),
    ]
    assert spools[1].cost_per_kg == Decimal("29.99")


def test_csv_import_is_all_or_nothing_with_every_rows_error(pla):
    bad = CSV_OK + "ABS,,,,500,,,,,\nPLA,,,,-3,,,,,\nPLA,,,,100,,,,,SP-0001\n"
    with pytest.raises(ImportRejected) as exc:
        spools_import_csv(text=bad)
    errors = {e["row"]: e["error"] for e in exc.value.extra["errors"]}
    assert errors == {
        3: "unknown material 'petg' (known: PLA)",
        4: "unknown material 'ABS' (known: PLA)",
        5: "initial_grams must not be negative (got -3)",
        6: "label id 'SP-0001' exists already",
    }
    assert Spool.objects.count() == 0
    with pytest.raises(ImportRejected, match="lacks the column"):
        spools_import_csv(text="colour_name\nred\n")


def test_import_spools_command(pla, petg, tmp_path, capsys):
    path = tmp_path / "spools.csv"
    path.write_text(CSV_OK)
    call_command("import_spools", str(path))
    assert "imported 2 spool(s)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="row 2: label id 'SP-0001' exists already"):
        call_command("import_spools", str(path))  # a second run adds nothing twice
    assert Spool.objects.count() == 2


def test_low_stock_is_the_labs_total_per_material_below_the_threshold(pla, petg):
    spool_create(material="PLA", initial_grams=Decimal("1000"), remaining_grams=Decimal("300"))
    spool_create(material="PLA", initial_grams=Decimal("1000"), remaining_grams=Decimal("150"))
    spool_create(material="PETG", initial_grams=Decimal("1000"), remaining_grams=Decimal("900"))
    stock = {row["material"].name: (row["remaining_grams"], row["low_stock"]) for row in stock_by_material()}
    assert stock == {"PLA": (Decimal("450"), True), "PETG": (Decimal("900"), False)}


def test_the_deduction_that_takes_stock_below_the_threshold_writes_one_spool_low_event(pla, machine):
    from events.models import Event

    spool = spool_create(material="PLA", initial_grams=Decimal("1000"), remaining_grams=Decimal("530"))
    spool_load(spool=spool, machine=machine)
    for n, grams in enumerate((20.0, 20.0, 20.0)):  # 510 → 490 (crosses 500) → 470
        job_usage_deduct(
            job_id=f"00000000-0000-0000-0000-00000000010{n}", machine_id=machine.pk, uses=[ToolUse(0, grams)]
        )
    [event] = Event.objects.filter(type="spool.low")
    assert event.payload["machine_name"] == "mk4" and event.payload["remaining_grams"] == 490.0
    assert event.payload["detail"].startswith("PLA: 490 g left on all spools (threshold 500 g)")
