"""The optional ``get_snapshot_url`` driver hook: OctoPrint's ``webcam.snapshotUrl`` and Moonraker's webcam
list (simulated and a real OctoPrint 1.11), the rules for what a printer may report, and the camera
picture served through Lab MES from the simulator's generated snapshot."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client

from drivers import OctoPrintClient
from drivers.base import webcam_url_on_printer
from machines.camera import camera_expected, camera_snapshot_url
from machines.machine_types.base import BaseDriver
from machines.registry import get_registry
from machines.services import machine_create, machine_settings_update
from tests.servers.camera import JPEG, CameraServer

pytestmark = pytest.mark.django_db
FAST = {"CONNECT_TIMEOUT": 2, "READ_TIMEOUT": 5}


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("staff", is_staff=True))
    return client


def add_machine(name: str, driver: str, **settings):
    config = machine_create(
        name=name, machine_type="printer-3d", driver=driver, settings={**FAST, **settings}
    )
    return get_registry().get_machine(config.pk)


def sim_machine(simulator, index: int):
    personality = simulator.fleet.get(index).personality
    return add_machine(
        f"{personality}-{index}",
        personality,
        URL=simulator.printer_url(index),
        API_KEY=simulator.api_key(index),
    )


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("/webcam/?action=snapshot", "http://octopi.lab/p/2/webcam/?action=snapshot"),
        ("webcam/?action=snapshot", "http://octopi.lab/p/2/webcam/?action=snapshot"),
        ("http://octopi.lab:8080/?action=snapshot", "http://octopi.lab:8080/?action=snapshot"),
        # OctoPi's default names the Pi as it sees itself: the printer's host, its port kept.
        ("http://127.0.0.1:8080/?action=snapshot", "http://octopi.lab:8080/?action=snapshot"),
        ("http://localhost/webcam/?action=snapshot", "http://octopi.lab/webcam/?action=snapshot"),
    ],
)
def test_a_reported_url_stays_on_the_printer(reported, expected):
    assert webcam_url_on_printer("http://octopi.lab/p/2/", reported) == expected


@pytest.mark.parametrize(
    ("reported", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", "another host (169.254.169.254)"),
        ("http://camera.lab/snap.jpg", "another host (camera.lab)"),
        ("file:///etc/passwd", "not http(s)"),
        ("ftp://octopi.lab/snap.jpg", "not http(s)"),
    ],
)
def test_a_printer_cannot_send_lab_mes_elsewhere(reported, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        webcam_url_on_printer("http://octopi.lab", reported)


def test_the_hook_defaults_to_none_for_drivers_written_before_it():
    class OldDriver(BaseDriver):  # a plugin's driver that knows nothing of cameras
        SLUG = "old"

    assert OldDriver().get_snapshot_url(machine=None) is None


@pytest.mark.parametrize("personality", ["octoprint", "moonraker"])
def test_octoprint_and_moonraker_report_their_webcam(registry, simulator, sim_printer, personality):
    index = sim_printer(personality)
    machine = sim_machine(simulator, index)
    assert camera_expected(machine)
    url = camera_snapshot_url(machine)
    assert url == f"{simulator.printer_url(index)}/webcam/?action=snapshot"
    picture = requests.get(url, timeout=5)
    assert picture.headers["Content-Type"] == "image/png" and picture.content.startswith(b"\x89PNG")


def test_prusalink_has_no_webcam_api_and_staff_can_set_one(registry, simulator, sim_printer):
    machine = sim_machine(simulator, sim_printer("prusalink"))
    assert camera_expected(machine)  # the driver has the hook: worth asking once
    assert camera_snapshot_url(machine) is None
    assert not camera_expected(machine)  # the answer is remembered: the page shows no camera
    with CameraServer() as cam:
        machine_settings_update(
            machine=machine.config, settings={"WEBCAM_SNAPSHOT_URL": f"{cam.url}/snapshot.jpg"}
        )
        machine = get_registry().get_machine(machine.config.pk)
        assert camera_snapshot_url(machine) == f"{cam.url}/snapshot.jpg"


def test_the_staff_setting_wins_over_the_printer(registry, simulator, sim_printer, staff_client):
    machine = sim_machine(simulator, sim_printer("octoprint"))
    with CameraServer() as cam:
        machine_settings_update(
            machine=machine.config, settings={"WEBCAM_SNAPSHOT_URL": f"{cam.url}/snapshot.jpg"}
        )
        response = staff_client.get(f"/machines/{machine.config.pk}/camera.jpg")
        assert response.status_code == 200 and response.content == JPEG


def test_the_simulated_camera_shows_through_lab_mes(registry, simulator, sim_printer, staff_client):
    machine = sim_machine(simulator, sim_printer("octoprint"))
    page = staff_client.get(f"/machines/{machine.config.pk}/").content.decode()
    assert f'src="/machines/{machine.config.pk}/camera.jpg"' in page
    response = staff_client.get(f"/machines/{machine.config.pk}/camera.jpg")
    assert response.status_code == 200, response.get("X-Camera-Error")
    assert response["Content-Type"] == "image/png" and response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert response["Cache-Control"] == "no-store"


def test_a_printer_that_is_down_gives_a_placeholder(registry, simulator, sim_printer, staff_client):
    index = sim_printer("moonraker")
    machine = sim_machine(simulator, index)
    requests.patch(f"{simulator.url}/_sim/printers/{index}/faults", json={"http_500": True}, timeout=5)
    try:
        response = staff_client.get(f"/machines/{machine.config.pk}/camera.jpg")
    finally:
        requests.delete(f"{simulator.url}/_sim/printers/{index}/faults", timeout=5)
    assert response.status_code == 503
    assert response["X-Camera-Error"].startswith("could not ask the printer for its camera")
    assert response["Content-Type"] == "image/svg+xml"


def test_real_octoprint_reports_the_classic_webcam_snapshot(registry, octoprint_server, staff_client):
    """OctoPrint 1.11 fills webcam.snapshotUrl from the classic webcam plugin's ``snapshot`` setting."""
    octoprint = OctoPrintClient(octoprint_server.url, api_key=octoprint_server.api_key)
    settings_url = f"{octoprint_server.url}/api/settings"
    headers = {"X-Api-Key": octoprint_server.api_key}
    with CameraServer() as cam:
        saved = requests.post(
            settings_url,
            json={"plugins": {"classicwebcam": {"snapshot": f"{cam.url}/snapshot.jpg"}}},
            headers=headers,
            timeout=10,
        )
        assert saved.status_code == 200, saved.text
        try:
            assert octoprint.webcam_snapshot_url() == f"{cam.url}/snapshot.jpg"
            machine = add_machine(
                "octopi", "octoprint", URL=octoprint_server.url, API_KEY=octoprint_server.api_key
            )
            response = staff_client.get(f"/machines/{machine.config.pk}/camera.jpg")
            assert response.status_code == 200, response.get("X-Camera-Error")
            assert response["Content-Type"] == "image/jpeg" and response.content == JPEG
        finally:
            requests.post(
                settings_url,
                json={"plugins": {"classicwebcam": {"snapshot": ""}}},
                headers=headers,
                timeout=10,
            )
    assert octoprint.webcam_snapshot_url() is None  # no snapshot URL set: no camera
