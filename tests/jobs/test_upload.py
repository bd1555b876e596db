"""Uploading G-code through the API: streamed, hashed, checked; a failed check stores nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.gcode import NotGcode, inspect_gcode
from jobs.models import Job
from tests.jobs.conftest import gcode, make_machine
from tests.jobs.helpers import bgcode

pytestmark = pytest.mark.django_db


def post(client, content: bytes, name="part.gcode", **fields):
    return client.post(
        "/api/jobs/", {"file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_stored(settings):
    assert Job.objects.count() == 0
    assert stored_files(settings) == []


def test_upload_is_stored_hashed_and_queued(api, student, machine, settings):
    content = gcode()
    response = post(api(student), content, name="Bracket V2.gcode", material="PLA")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "queued"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["original_name"] == "Bracket V2.gcode"
    assert body["printer_file_name"] == f"{body['id']}.gcode"
    meta = body["metadata"]
    assert meta["slicer"]["name"] == "PrusaSlicer"
    assert meta["estimated_time_s"] == 3723
    assert meta["filament"] == {"PLA": {"length_mm": 1234.56, "weight_g": 3.7}}
    assert meta["temperatures"]["max_nozzle"] == 215
    assert meta["bounds"] == {"min": [20.0, 20.0, 0.2], "max": [70.0, 70.0, 10.0]}
    files = stored_files(settings)
    assert len(files) == 1 and files[0].name == f"{body['id']}.gcode"
    assert files[0].read_bytes() == content
    job = Job.objects.get(pk=body["id"])
    assert [(e.kind, e.from_state, e.to_state) for e in job.events.all()] == [
        ("created", "", "submitted"),
        ("transition", "submitted", "queued"),
    ]


def test_too_large_is_413_and_nothing_is_stored(api, student, machine, settings):
    settings.JOBS_MAX_UPLOAD_BYTES = 1000
    response = post(api(student), gcode(extra="; padding\n" * 200))
    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]
    assert_nothing_stored(settings)


@pytest.mark.parametrize("name", ["part.stl", "part.txt", "part"])
def test_wrong_extension_is_400(api, student, machine, settings, name):
    response = post(api(student), gcode(), name=name)
    assert response.status_code == 400
    assert "not a G-code file" in response.json()["reasons"][0]
    assert_nothing_stored(settings)


def test_binary_content_named_gcode_is_400(api, student, machine, settings):
    response = post(api(student), b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" * 10)
    assert response.status_code == 400
    assert "binary" in response.json()["reasons"][0] or "not G-code" in response.json()["reasons"][0]
    assert_nothing_stored(settings)


def test_text_that_is_not_gcode_is_400(api, student, machine, settings):
    response = post(api(student), b"solid cube\n  facet normal 0 0 1\n")
    assert response.status_code == 400
    assert "line 1 is not G-code" in response.json()["reasons"][0]
    assert_nothing_stored(settings)


def test_forbidden_commands_are_listed_with_line_numbers(api, student, machine, settings):
    response = post(api(student), gcode(extra="M502\nM500"))
    assert response.status_code == 400
    reasons = response.json()["reasons"]
    assert any("M502 is not allowed" in r and r.startswith("line 16") for r in reasons)
    assert any("M500 is not allowed" in r and r.startswith("line 17") for r in reasons)
    assert_nothing_stored(settings)


def test_forbidden_list_is_a_setting(api, student, machine, settings):
    settings.JOBS_FORBIDDEN_COMMANDS = ["M300"]
    assert post(api(student), gcode(extra="M502")).status_code == 201
    assert post(api(student), gcode(extra="M300 S440 P200")).status_code == 400


def test_preflight_lists_every_reason(api, student, machine, settings):
    content = gcode(size_xyz=(300, 50, 250), nozzle=320, material="ASA")
    response = post(api(student), content)
    assert response.status_code == 400
    reasons = " | ".join(response.json()["reasons"])
    assert "mk4: the print spans X 20.0…320.0 mm, outside the build volume 0…250 mm" in reasons
    assert "Z" in reasons
    assert "320.0 °C, above the machine's 290.0 °C" in reasons
    assert "ASA is not loaded (loaded: PLA, PETG)" in reasons
    assert_nothing_stored(settings)


def test_preflight_passes_when_any_machine_fits(api, student, machine, settings):
    make_machine("big", volume=(400, 400, 400), materials="ASA", max_nozzle="350")
    response = post(api(student), gcode(size_xyz=(300, 50, 250), nozzle=320, material="ASA"))
    assert response.status_code == 201, response.json()


def test_a_machine_set_up_through_the_api_is_checked_with_its_limits_and_its_defaults(
    api, staff, student, settings
):
    """Temperature limits are settings staff can set; a machine left on its type's defaults (220 x 220
    x 250 mm, 0.4 mm nozzle) is checked against those, not skipped."""
    created = api(staff).post(
        "/api/machines/",
        {
            "name": "default-mk3",
            "machine_type": "printer-3d",
            "driver": "octoprint",
            "settings": {"MAX_NOZZLE_TEMP": 260, "MAX_BED_TEMP": 100, "LOADED_MATERIALS": ["PLA"]},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    response = post(api(student), gcode(size_xyz=(230, 50, 10), nozzle=280, bed=110))
    assert response.status_code == 400
    reasons = " | ".join(response.json()["reasons"])
    assert "default-mk3: the print spans X 20.0…250.0 mm, outside the build volume 0…220 mm" in reasons
    assert "280.0 °C, above the machine's 260.0 °C" in reasons
    assert "110" in reasons and "100.0 °C" in reasons
    assert post(api(student), gcode(size_xyz=(150, 50, 10), nozzle=215, bed=60)).status_code == 201


def test_constraints_must_match_a_machine(api, student, machine, settings):
    assert post(api(student), gcode(), nozzle_diameter="0.6").status_code == 400
    response = post(api(student), gcode(), tags=["enclosure"])
    assert "lacks the tag(s) enclosure" in response.json()["reasons"][0]
    make_machine("encl", tags="enclosure,camera")
    assert post(api(student), gcode(), tags=["enclosure"]).status_code == 201


def test_named_machine_constraint(api, student, machine, settings):
    small = make_machine("mini", volume=(180, 180, 180))
    response = post(api(student), gcode(size_xyz=(200, 20, 10)), target_machine=str(small.pk))
    assert response.status_code == 400
    assert response.json()["reasons"][0].startswith("mini:")
    ok = post(api(student), gcode(), target_machine=str(small.pk))
    assert ok.status_code == 201
    assert ok.json()["target_machine"] == str(small.pk)


def test_no_machine_at_all_is_400(api, student, settings):
    response = post(api(student), gcode())
    assert response.status_code == 400
    assert "no active machine of type 'printer-3d'" in response.json()["reasons"][0]


def test_missing_file_is_400(api, student, machine):
    response = api(student).post("/api/jobs/", {"name": "x"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"]["file"] == ["No file was submitted."]


def test_bgcode_upload(api, student, machine, settings):
    content = bgcode(gcode_text=b"G28\nM104 S215\nG1 X10 Y10 Z0.2\nG1 X60 Y10 E5\n")
    response = post(api(student), content, name="part.bgcode")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["file_format"] == "bgcode"
    assert body["printer_file_name"].endswith(".bgcode")
    assert body["metadata"]["printer_model"] == "MK4"
    assert body["metadata"]["bounds"]["max"] == [60.0, 10.0, 0.2]


def test_bgcode_forbidden_command_is_found_in_deflated_blocks(api, student, machine, settings):
    response = post(api(student), bgcode(gcode_text=b"G28\nM997\n"), name="part.bgcode")
    assert response.status_code == 400
    assert "M997" in response.json()["reasons"][0]


def test_bgcode_without_magic_is_400(api, student, machine, settings):
    response = post(api(student), b"G28\nG1 X1\n", name="part.bgcode")
    assert response.status_code == 400
    assert "GCDE" in response.json()["reasons"][0]
    assert_nothing_stored(settings)


def test_truncated_bgcode_is_400(api, student, machine, settings):
    response = post(api(student), bgcode(gcode_text=b"G28\n" * 50)[:-20], name="part.bgcode")
    assert response.status_code == 400
    assert "truncated" in response.json()["reasons"][0]


def test_cura_metadata_and_relative_moves(tmp_path):
    text = b"""\
;FLAVOR:Marlin
;TIME:6120
;Filament used: 2.5m
;Generated with Cura_SteamEngine 5.4.0
M140 S70
M109 S240
G28
G92 E0
G1 X10 Y10 Z0.3
G91
G1 X5 Y0 E1
G1 X0 Y5 E1
G90
M83
G1 X100 Y20 E2
G1 X200 Y200
"""
    path = tmp_path / "cura.gcode"
    path.write_bytes(text)
    with path.open("rb") as stream:
        report = inspect_gcode(stream, original_name="cura.gcode", forbidden_commands=frozenset())
    meta = report.metadata
    assert meta["slicer"] == {"name": "Cura_SteamEngine", "version": "5.4.0"}
    assert meta["estimated_time_s"] == 6120
    assert meta["filament"]["unknown"]["length_mm"] == 2500
    assert meta["temperatures"]["max_bed"] == 70
    # Travel to 200,200 without extrusion is not part of the print.
    assert meta["bounds"] == {"min": [10.0, 10.0, 0.3], "max": [100.0, 20.0, 0.3]}


def test_bgcode_named_as_text_is_refused(tmp_path):
    path = tmp_path / "x.gcode"
    path.write_bytes(bgcode(gcode_text=b"G28\n"))
    with path.open("rb") as stream, pytest.raises(NotGcode, match="binary G-code"):
        inspect_gcode(stream, original_name="x.gcode", forbidden_commands=frozenset())
