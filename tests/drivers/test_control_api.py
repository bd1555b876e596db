"""Operator controls end to end: the API and the fleet card's menu, through machines.controls, the
built-in drivers and the simulator (and, slow, a real OctoPrint): staff only, checked, refused while a
print runs where it would spoil it, and every attempt audited with the person."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from machines.machine_types.printer_3d import Printer3DStatus
from machines.models import MachineControlLog
from machines.registry import get_registry

from .test_driver_plugins import FAST, add_machine, control, dwell_gcode, poll_until, sim_machine

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    users = get_user_model().objects
    staff = users.create_user("operator", password="pw-123456!", is_staff=True)
    student = users.create_user("student", password="pw-123456!")
    api = {}
    for user in (staff, student):
        api[user.username] = APIClient()
        api[user.username].force_authenticate(user)
    return {"staff": staff, "student": student, "api": api}


def post(people, who: str, machine, which: str, **body):
    return people["api"][who].post(f"/api/machines/{machine.id}/controls/{which}/", body, format="json")


def hands(simulator, index: int) -> dict:
    return control(simulator, index, "GET")["hands"] or {}


def test_staff_see_what_a_machine_offers(registry, simulator, sim_printer, people):
    octo = sim_machine(simulator, sim_printer("octoprint"))
    prusa = sim_machine(simulator, sim_printer("prusalink"))
    offered = people["api"]["operator"].get(f"/api/machines/{octo.id}/controls/").json()
    assert "emergency_stop" in offered["controls"] and offered["printing"] is False
    assert offered["refused_while_printing"] == ["home", "jog", "print_file"]
    assert offered["presets"]["PLA"] == [215.0, 60.0]
    assert people["api"]["operator"].get(f"/api/machines/{prusa.id}/controls/").json()["controls"] == [
        "print_file"
    ]


def test_preheat_to_a_material_preset_is_done_and_audited(registry, simulator, sim_printer, people):
    index = sim_printer("moonraker")
    machine = sim_machine(simulator, index)
    response = post(people, "operator", machine, "preheat", material="petg")
    assert response.status_code == 200, response.json()
    assert response.json()["message"] == "heating to PETG: nozzle 240 °C, bed 80 °C"
    temps = control(simulator, index, "GET")["temperatures"]
    assert (temps["tool0"]["target"], temps["bed"]["target"]) == (240, 80)
    entry = MachineControlLog.objects.get(pk=response.json()["log_id"])
    assert (entry.username, entry.control, entry.outcome) == ("operator", "preheat", "done")
    assert post(people, "operator", machine, "cooldown").status_code == 200
    assert control(simulator, index, "GET")["temperatures"]["tool0"]["target"] == 0


def test_students_may_not_use_the_controls(registry, simulator, sim_printer, people):
    machine = sim_machine(simulator, sim_printer("octoprint"))
    assert post(people, "student", machine, "home").status_code == 403
    assert people["api"]["student"].get(f"/api/machines/{machine.id}/controls/").status_code == 403


@pytest.mark.parametrize("line", ["M997", "m502", "N10 M500 ; store", "SAVE_CONFIG"])
def test_dangerous_gcode_is_denied_and_the_attempt_audited(registry, simulator, sim_printer, people, line):
    index = sim_printer("octoprint")
    machine = sim_machine(simulator, index)
    response = post(people, "operator", machine, "gcode", line=line)
    assert response.status_code == 403 and response.json()["code"] == "gcode_denied"
    assert "may not be sent by hand" in response.json()["detail"]
    assert line.split()[0] not in str(hands(simulator, index).get("gcode", []))
    entry = MachineControlLog.objects.get()
    assert (entry.username, entry.outcome, entry.params["line"]) == ("operator", "refused", line)


def test_a_gcode_line_is_sent_and_audited(registry, simulator, sim_printer, people):
    index = sim_printer("octoprint")
    machine = sim_machine(simulator, index)
    response = post(people, "operator", machine, "gcode", line="M117 Bed is hot")
    assert response.status_code == 200 and hands(simulator, index)["gcode"] == ["M117 Bed is hot"]
    assert MachineControlLog.objects.get().message == "sent M117 Bed is hot"


@pytest.mark.parametrize(
    ("name", "body", "needle"),
    [
        ("jog", {"x": 1000}, "x must be between -100 and 100"),
        ("jog", {}, "give a step in mm"),
        ("preheat", {"material": "unobtainium"}, "no preheat preset for UNOBTAINIUM"),
        ("preheat", {"tool": 420}, "tool must be between 0 and 300"),
        ("fan", {"percent": 140}, "percent must be between 0 and 100"),
        ("gcode", {"line": "G28\nM997"}, "send one line"),
        ("dance", {}, "unknown control 'dance'"),
    ],
)
def test_bad_arguments_get_a_400_that_says_what_is_wrong(
    registry, simulator, sim_printer, people, name, body, needle
):
    machine = sim_machine(simulator, sim_printer("octoprint"))
    response = post(people, "operator", machine, name, **body)
    assert response.status_code == 400 and needle in response.json()["detail"], response.json()


def test_a_control_the_driver_does_not_offer_is_refused_with_the_reason(
    registry, simulator, sim_printer, people
):
    machine = sim_machine(simulator, sim_printer("prusalink"))
    response = post(people, "operator", machine, "home")
    assert response.status_code == 400 and response.json()["code"] == "not_supported"
    assert "does not offer home" in response.json()["detail"]


@pytest.mark.parametrize("personality", ["octoprint", "moonraker"])
def test_jog_and_home_are_refused_while_a_print_runs(
    registry, simulator, sim_printer, people, tmp_path, personality
):
    index = sim_printer(personality)
    machine = sim_machine(simulator, index)
    path, sha = dwell_gcode(tmp_path, "long.gcode", 60)
    machine.driver.upload(machine, path, "long.gcode", sha)
    machine.driver.start(machine, "long.gcode")
    poll_until(machine, lambda s: s in (Printer3DStatus.PRINTING, Printer3DStatus.HEATING), "printing")
    for name, body in (("jog", {"x": 5}), ("home", {}), ("gcode", {"line": "G1 X10"})):
        response = post(people, "operator", machine, name, **body)
        assert response.status_code == 409 and response.json()["code"] == "printing", response.json()
        assert (
            "is printing" in response.json()["detail"]
            and "would spoil the print" in response.json()["detail"]
        )
    assert hands(simulator, index).get("position", {"x": 0.0})["x"] == 0.0
    assert post(people, "operator", machine, "fan", percent=80).status_code == 200  # harmless: allowed
    assert MachineControlLog.objects.filter(outcome="refused").count() == 3
    machine.driver.cancel(machine)


def test_emergency_stop_halts_the_printer_and_the_poll_shows_it(registry, simulator, sim_printer, people):
    index = sim_printer("octoprint")
    machine = sim_machine(simulator, index)
    response = post(people, "operator", machine, "emergency_stop")
    assert response.status_code == 200 and "emergency stop sent" in response.json()["message"]
    poll_until(machine, lambda s: s == Printer3DStatus.ERROR, "error after the e-stop")
    assert control(simulator, index, "GET")["phase"] == "error"


def test_the_fleet_card_menu_sends_controls_and_shows_refusals(registry, simulator, sim_printer, people):
    index = sim_printer("octoprint")
    machine = sim_machine(simulator, index)
    get_registry().poll(machine)
    browser = Client()
    browser.force_login(people["staff"])
    board = browser.get("/fleet/").content.decode()
    assert f'id="controls-{machine.id}"' in board and "Emergency stop</button>" in board
    assert f'action="/fleet/{machine.id}/control/preheat/"' in board and "PLA (215/60 °C)" in board
    response = browser.post(f"/fleet/{machine.id}/control/jog/", {"x": "10"}, follow=True)
    assert "moved X+10 mm." in response.content.decode()
    assert hands(simulator, index)["position"]["x"] == 10.0
    response = browser.post(f"/fleet/{machine.id}/control/gcode/", {"line": "M997"})
    assert response.status_code == 403 and "M997 may not be sent by hand" in response.content.decode()
    student = Client()
    student.force_login(people["student"])
    assert f'id="controls-{machine.id}"' not in student.get("/fleet/").content.decode()
    assert student.post(f"/fleet/{machine.id}/control/home/").status_code == 403


@pytest.mark.slow
def test_controls_on_a_real_octoprint(registry, octoprint_server, people, tmp_path):
    from .conftest import _reset_real_octoprint, octoprint_backend

    backend = octoprint_backend(octoprint_server, tmp_path)
    machine = add_machine(
        "real-octoprint", "octoprint", URL=octoprint_server.url, API_KEY=octoprint_server.api_key, **FAST
    )
    try:
        assert post(people, "operator", machine, "preheat", material="PLA").status_code == 200
        backend.wait_for(
            lambda s: s.temperatures.get("tool0") and s.temperatures["tool0"].target == 215, 15, "215"
        )
        assert post(people, "operator", machine, "home", axes=["x", "y"]).status_code == 200
        assert post(people, "operator", machine, "jog", z=5).status_code == 200
        part = backend.gcode("real long.gcode", seconds=30)
        backend.client.upload(part.path, part.name, part.sha256)
        assert post(people, "operator", machine, "print_file", name=part.name).status_code == 200
        poll_until(
            machine, lambda s: s in (Printer3DStatus.PRINTING, Printer3DStatus.HEATING), "printing", 20
        )
        response = post(people, "operator", machine, "jog", x=10)
        assert response.status_code == 409 and "would spoil the print" in response.json()["detail"]
        printer = requests.get(
            f"{octoprint_server.url}/api/job", headers={"X-Api-Key": octoprint_server.api_key}, timeout=5
        )
        assert printer.json()["state"] in ("Printing", "Starting")
    finally:
        _reset_real_octoprint(backend)
        backend.client.close()
