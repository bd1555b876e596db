"""One job's page, /jobs/<id>/: live state, progress, forecast and the owner's controls (a fragment
that refreshes), a timeline of every step with who took it, what the pre-flight found in the file and
which machines fit it, and the camera of the machine while the job is on it."""

from __future__ import annotations

import re

import pytest

from jobs.services import job_request_pause, job_transition
from machines.services import machine_settings_update
from tests.jobs.conftest import gcode
from tests.pages.conftest import printing_state, report, start_printing
from tests.servers.camera import CameraServer

pytestmark = pytest.mark.django_db


def timeline(html: str) -> list[tuple[str, str]]:
    """(what, who) of each timeline row."""
    part = html[html.index('id="job-timeline"') :]
    rows = re.findall(
        r"<tr data-actor-kind=[^>]*><td>[^<]*</td><td>([^<]*)</td><td class=\"actor\">(.*?)</td>", part
    )
    return [(what, re.sub(r"<[^>]+>", "", who)) for what, who in rows]


def test_the_timeline_names_who_took_each_step(login, staff, student, printer, submit_job):
    staff.first_name, staff.last_name = "Ada", "Lovelace"
    staff.save()
    machine = printer("mk4")
    job = start_printing(submit_job(student, name="gear"), machine)
    job_request_pause(job=job, user=staff, reason="checking the first layer")
    html = login(student).get(f"/jobs/{job.pk}/").content.decode()
    assert timeline(html) == [
        ("submitted", "student"),
        ("submitted → queued", "system"),  # no approval needed: straight into the queue
        ("queued → dispatching", "scheduler"),
        ("dispatching → uploaded", "scheduler"),
        ("uploaded → printing", "printer"),
        ("pause requested", "Ada Lovelace"),
    ]
    assert "checking the first layer" in html


def test_the_live_part_shows_progress_and_the_owners_controls(
    login, student, other_student, printer, submit_job
):
    machine = printer("mk4")
    job = start_printing(submit_job(student, name="gear"), machine)
    report(machine, printing_state(job.printer_file_name, progress=37.0, time_left=1200.0))
    client = login(student)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'data-live-url="/jobs/{job.pk}/live/"' in page
    live = client.get(f"/jobs/{job.pk}/live/").content.decode()
    assert '<progress max="100" value="37.0">' in live and "20 min left" in live
    assert ">Pause</button>" in live and ">Cancel</button>" in live
    assert f'name="next" value="/jobs/{job.pk}/"' in live  # the buttons come back to the job
    assert "<html" not in live and 'id="job-timeline"' in live
    report(machine, printing_state(job.printer_file_name, progress=64.0, time_left=600.0))
    assert '<progress max="100" value="64.0">' in client.get(f"/jobs/{job.pk}/live/").content.decode()
    assert login(other_student).get(f"/jobs/{job.pk}/live/").status_code == 404


def test_a_finished_job_offers_no_controls(login, student, printer, submit_job):
    machine = printer("mk4")
    job = start_printing(submit_job(student, name="gear"), machine)
    job_transition(job=job, to_state="completed", actor_kind="reconciler", reason="print finished")
    live = login(student).get(f"/jobs/{job.pk}/live/").content.decode()
    assert "job-controls" not in live and ">Completed</span>" in live
    assert ("printing → completed", "printer") in timeline(live)


def test_the_preflight_says_what_it_read_and_which_machines_fit(login, student, printer, submit_job):
    printer("big", volume=(250, 210, 220))
    printer("tiny", volume=(60, 60, 60))
    job = submit_job(student, name="wide", content=gcode(size_xyz=(150.0, 50.0, 10.0)))
    html = login(student).get(f"/jobs/{job.pk}/").content.decode()
    part = html[html.index('id="job-preflight"') :]
    assert "<dt>Print time (slicer)</dt><dd>1 h 02 min</dd>" in part
    assert "<dt>Nozzle</dt><dd>215 °C</dd>" in part and "<dt>Bed</dt><dd>60 °C</dd>" in part
    assert "<dt>Print size</dt><dd>150 x 50 x 10 mm</dd>" in part
    assert "Fits big." in part
    misfit = re.search(r'<ul class="preflight-misfits"><li>tiny: ([^<]+)</li>', part)
    assert misfit and "outside the build volume" in misfit.group(1)


def test_the_owner_watches_their_print_on_the_job_page(login, student, printer, submit_job):
    with CameraServer() as cam:
        config = printer("mk4-cam")
        machine_settings_update(machine=config, settings={"WEBCAM_SNAPSHOT_URL": f"{cam.url}/snapshot.jpg"})
        job = submit_job(student, name="hinge")
        page = login(student).get(f"/jobs/{job.pk}/").content.decode()
        assert "camera-picture" not in page  # waiting: no machine yet
        start_printing(job, config)
        page = login(student).get(f"/jobs/{job.pk}/").content.decode()
        assert f'src="/machines/{config.pk}/camera.jpg"' in page
        assert cam.url not in page  # students never learn where the camera is


def test_the_api_gives_the_thumbnail_and_page_urls(student, printer, submit_job):
    from rest_framework.test import APIClient

    from tests.jobs.thumbnail_samples import block, tiny_png, with_header

    printer("mk4")
    plain = submit_job(student, name="plain")
    pictured = submit_job(
        student, name="pictured", content=with_header(gcode(), block(tiny_png(16, 16), 16, 16))
    )
    api = APIClient()
    api.force_authenticate(student)
    body = api.get(f"/api/jobs/{pictured.pk}/").json()
    assert body["thumbnail_url"] == f"http://testserver/jobs/{pictured.pk}/thumbnail/"
    assert body["page_url"] == f"http://testserver/jobs/{pictured.pk}/"
    assert api.get(f"/api/jobs/{plain.pk}/").json()["thumbnail_url"] is None
