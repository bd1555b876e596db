"""The pre-flight reads filament per tool from each slicer's comments and turns it into grams."""

from __future__ import annotations

import io
import math
from decimal import Decimal

import pytest

from jobs.filament import filament_need
from jobs.gcode import inspect_gcode
from materials.conversions import grams_from_length, grams_from_volume
from materials.models import MaterialType
from tests.materials import slicer_files


def read(content: bytes, *, material: str = "") -> dict:
    report = inspect_gcode(io.BytesIO(content), original_name="part.gcode", forbidden_commands=frozenset())
    return filament_need(metadata=report.metadata, material=material)


@pytest.fixture
def lab_materials(db):
    MaterialType.objects.create(name="PLA", density=Decimal("1.24"), diameter=Decimal("1.75"))
    MaterialType.objects.create(name="PETG", density=Decimal("1.27"), diameter=Decimal("1.75"))


def test_one_metre_of_pla_weighs_what_the_cross_section_says():
    # π x (1.75/2)² mm² x 1000 mm = 2405.28 mm³; x 1.24 g/cm³ = 2.98 g.
    assert grams_from_length(length_mm=1000, density_g_cm3=1.24, diameter_mm=1.75) == pytest.approx(
        2.9825, abs=1e-3
    )
    assert grams_from_length(length_mm=1000, density_g_cm3=1.24, diameter_mm=2.85) == pytest.approx(
        math.pi * 1.425**2 * 1.24, rel=1e-9
    )
    assert grams_from_volume(volume_mm3=2419, density_g_cm3=1.24) == pytest.approx(3.0, abs=0.01)
    with pytest.raises(ValueError):
        grams_from_length(length_mm=100, density_g_cm3=0, diameter_mm=1.75)


@pytest.mark.django_db
def test_prusaslicer_grams_are_taken_as_written():
    need = read(slicer_files.prusaslicer())
    assert need == {"known": True, "tools": [{"tool": 0, "material": "PLA", "grams": 3.7}], "note": ""}


@pytest.mark.django_db
def test_prusaslicer_multi_material_gives_one_entry_per_tool():
    need = read(slicer_files.prusaslicer_two_tools())
    assert need["known"]
    assert need["tools"] == [
        {"tool": 0, "material": "PLA", "grams": 2.98},
        {"tool": 1, "material": "PETG", "grams": 1.52},
    ]


@pytest.mark.django_db
def test_orcaslicer_lengths_are_converted_with_the_files_density():
    need = read(slicer_files.orcaslicer(used_mm="14018.52"))
    # 14018.52 mm x 2.40528 mm² x 1.27 g/cm³ = 42.82 g
    assert need["tools"] == [{"tool": 0, "material": "PETG", "grams": pytest.approx(42.82, abs=0.01)}]
    assert need["known"]


@pytest.mark.django_db
def test_bambu_studio_header_totals_are_read():
    need = read(slicer_files.bambu_studio())
    assert need == {"known": True, "tools": [{"tool": 0, "material": "PLA", "grams": 15.02}], "note": ""}


def test_cura_metres_are_converted_with_the_labs_density(lab_materials):
    # Cura names no material: the job's (PETG) gives density 1.27.
    need = read(slicer_files.cura_marlin(used="1.23456m"), material="PETG")
    assert need["known"]
    assert need["tools"][0]["material"] == "PETG"
    assert need["tools"][0]["grams"] == pytest.approx(1234.56 * math.pi * 0.875**2 * 1.27 / 1000, abs=0.01)


def test_cura_griffin_volume_is_converted(lab_materials):
    need = read(slicer_files.cura_griffin(), material="PLA")
    assert need["tools"] == [{"tool": 0, "material": "PLA", "grams": pytest.approx(3.0, abs=0.01)}]


@pytest.mark.django_db
def test_cura_without_a_known_material_is_need_unknown():
    need = read(slicer_files.cura_marlin())
    assert not need["known"]
    assert need["note"].startswith("need unknown")
    assert need["tools"][0]["grams"] is None


@pytest.mark.django_db
def test_missing_and_garbled_comments_are_need_unknown_not_errors():
    missing = read(slicer_files.no_filament_comments())
    assert missing == {"known": False, "tools": [], "note": "need unknown: the file has no filament comments"}
    garbled = read(slicer_files.garbled())
    assert not garbled["known"]
    assert "unreadable" in garbled["note"]
