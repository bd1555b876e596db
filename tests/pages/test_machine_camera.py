"""A machine's camera, proxied by Lab MES at /machines/<id>/camera.jpg: against a real local HTTP server
that serves a picture, HTML, a lying content type, an SVG, a too-large picture, a redirect and a
request that never gets an answer. Who may look: staff, and the owner of the job on the machine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.models import Job
from machines import camera
from machines.services import machine_settings_update
from tests.pages.conftest import start_printing
from tests.servers.camera import JPEG, CameraServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def cam():
    with CameraServer() as server:
        yield server


@pytest.fixture
def with_camera(printer, cam):
    """A printer (dummy driver: no camera of its own) whose camera staff set to ``path`` on the server."""

    def _with_camera(path: str = "/snapshot.jpg", name: str = "mk4-cam"):
        config = printer(name)
        machine_settings_update(machine=config, settings={"WEBCAM_SNAPSHOT_URL": f"{cam.url}{path}"})
        return config

    return _with_camera


def camera_url(config) -> str:
    return f"/machines/{config.pk}/camera.jpg"


def test_staff_see_the_picture_on_the_machine_page_through_lab_mes(login, staff, with_camera, cam):
    config = with_camera()
    client = login(staff)
    html = client.get(f"/machines/{config.pk}/").content.decode()
    section = html[html.index('id="machine-camera"') :]
    assert f'<img class="camera-picture" src="{camera_url(config)}" data-camera-refresh="5000"' in section
    assert f'<img src="{cam.url}' not in html  # the browser loads the picture from Lab MES only
    response = client.get(camera_url(config))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg" and response.content == JPEG
    assert response["Cache-Control"] == "no-store" and response["X-Content-Type-Options"] == "nosniff"
    client.get(camera_url(config) + "?t=2")
    assert cam.requests == ["/snapshot.jpg", "/snapshot.jpg"]  # a new picture each time, none kept


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/page.html", "the camera sent text/html, not a picture"),
        ("/liar.jpg", "the camera's answer is not a JPEG picture"),
        ("/logo.svg", "the camera sent image/svg+xml, not a picture"),
        ("/moved", "the camera answered HTTP 302"),
        ("/missing.jpg", "the camera answered HTTP 404"),
    ],
)
def test_what_is_not_a_picture_gives_a_placeholder_that_says_why(login, staff, with_camera, path, reason):
    response = login(staff).get(camera_url(with_camera(path)))
    assert response.status_code == 503
    assert response["Content-Type"] == "image/svg+xml" and response["Cache-Control"] == "no-store"
    assert response["X-Camera-Error"] == reason
    body = response.content.decode()
    assert body.startswith("<svg") and "Camera unavailable" in body and "<script" not in body


def test_a_camera_that_never_answers_is_cut_off(login, staff, with_camera, cam, monkeypatch):
    monkeypatch.setattr(camera, "DEADLINE", 0.5)
    response = login(staff).get(camera_url(with_camera("/hang")))
    assert response.status_code == 503
    assert response["X-Camera-Error"] == "camera not reachable: timed out waiting for the answer"
    assert cam.requests == ["/hang"]


def test_a_picture_over_the_size_limit_is_refused(login, staff, with_camera, monkeypatch):
    monkeypatch.setattr(camera, "MAX_BYTES", 32 * 1024)
    response = login(staff).get(camera_url(with_camera("/big.jpg")))
    assert response.status_code == 503 and "larger than" in response["X-Camera-Error"]


def test_a_camera_that_is_off_says_so(login, staff, printer, cam):
    config = printer("mk4-off")
    cam.__exit__(None, None, None)  # nothing listens on its port any more
    machine_settings_update(machine=config, settings={"WEBCAM_SNAPSHOT_URL": f"{cam.url}/snapshot.jpg"})
    response = login(staff).get(camera_url(config))
    assert response.status_code == 503
    assert response["X-Camera-Error"].startswith("camera not reachable: the connection was refused")


def test_a_camera_url_that_is_not_http_is_refused_without_a_request(login, staff, printer):
    config = printer("mk4-file")
    machine_settings_update(machine=config, settings={"WEBCAM_SNAPSHOT_URL": "file:///etc/passwd"})
    response = login(staff).get(camera_url(config))
    assert response.status_code == 503
    assert response["X-Camera-Error"] == "the camera URL must be an http:// or https:// URL with a host"


def test_a_machine_without_a_camera_shows_none(login, staff, printer):
    """The dummy driver has no get_snapshot_url hook (a plugin written before it): no camera."""
    config = printer("mk4-plain")
    client = login(staff)
    assert 'id="machine-camera"' not in client.get(f"/machines/{config.pk}/").content.decode()
    response = client.get(camera_url(config))
    assert response.status_code == 503 and response["X-Camera-Error"].startswith("this machine has no camera")


def test_who_may_look(client, login, staff, student, other_student, with_camera, submit_job):
    config = with_camera()
    assert client.get(camera_url(config))["Location"].startswith("/accounts/login/")
    assert login(student).get(camera_url(config)).status_code == 404  # nothing of theirs on it
    job = start_printing(submit_job(student, name="hinge"), config)
    assert login(student).get(camera_url(config)).status_code == 200
    assert login(other_student).get(camera_url(config)).status_code == 404
    assert login(student).get(f"/machines/{config.pk}/").status_code == 403  # the page stays staff-only
    Job.objects.filter(pk=job.pk).update(state="completed", finished_at=job.started_at + timedelta(hours=1))
    assert login(student).get(camera_url(config)).status_code == 404  # the next print is not theirs
    assert login(staff).get(camera_url(config)).status_code == 200
