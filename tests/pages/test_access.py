"""Who may see what: login everywhere, students see only their own jobs and which printers are free."""

from __future__ import annotations

import re

import pytest

from jobs.models import Job
from machines.machine_types.printer_state import PrinterState, PrinterStatus
from tests.pages.conftest import csrf_post, printing_state, report, start_printing

PAGES = ["/", "/jobs/", "/jobs/live/", "/jobs/submit/", "/fleet/", "/fleet/live/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url.startswith(f"/accounts/login/?next={path}")


def test_anonymous_post_is_sent_to_login_and_changes_nothing(client, student, submit_job, printer):
    printer()
    job = submit_job(student)
    response = client.post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    job.refresh_from_db()
    assert job.state == "queued"


def test_home_sends_staff_to_the_fleet_and_students_to_their_jobs(login, student, staff):
    assert login(staff).get("/").url == "/fleet/"
    assert login(student).get("/").url == "/jobs/"


def test_staff_still_get_the_admin_link(login, staff, student):
    assert b'href="/admin/"' in login(staff).get("/fleet/").content
    assert b'href="/admin/"' not in login(student).get("/jobs/").content


@pytest.mark.parametrize("path", ["/fleet/", "/fleet/live/"])
def test_students_see_which_printers_are_free_instead_of_the_board(
    login, student, staff, submit_job, printer, path
):
    report(printer("free-one"), PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    busy = printer("busy-one")
    job = start_printing(submit_job(staff, name="secret-part"), busy)
    report(busy, printing_state(job.printer_file_name, progress=42.0, time_left=1800.0))
    response = login(student).get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 of 2</strong> printers free" in html
    assert re.search(r'data-availability="free">\s*<td class="machine-name">free-one<', html)
    assert re.search(r'data-availability="busy">\s*<td class="machine-name">busy-one<', html)
    # read-only, and nothing about other people's jobs
    assert "secret-part" not in html and "<form" not in html.split('id="fleet-live"')[-1]


def test_students_cannot_clear_a_bed(login, student, printer):
    machine = printer()
    client = login(student)
    assert csrf_post(client, f"/fleet/{machine.pk}/bed-cleared/").status_code == 403


def test_student_sees_only_own_jobs(login, student, other_student, submit_job, printer):
    printer()
    mine = submit_job(student, name="my-bracket")
    theirs = submit_job(other_student, name="their-gear")
    for path in ("/jobs/", "/jobs/live/"):
        html = login(student).get(path).content.decode()
        assert "my-bracket" in html and f"job-{mine.pk}" in html
        assert "their-gear" not in html and str(theirs.pk) not in html
    # …and the other student's job is behind theirs, so the farm-wide position shows 1 for mine
    assert 'class="queue-position">1<' in login(student).get("/jobs/live/").content.decode()
    assert 'class="queue-position">2<' in login(other_student).get("/jobs/live/").content.decode()


def test_staff_see_every_job_with_its_owner(login, staff, student, other_student, submit_job, printer):
    printer()
    submit_job(student, name="my-bracket")
    submit_job(other_student, name="their-gear")
    html = login(staff).get("/jobs/live/").content.decode()
    assert "my-bracket" in html and "their-gear" in html
    assert "<th>Owner</th>" in html and ">student<" in html and ">other<" in html


def test_student_cannot_control_another_students_job(login, student, other_student, submit_job, printer):
    printer()
    theirs = submit_job(other_student, name="their-gear")
    response = csrf_post(login(student), f"/jobs/{theirs.pk}/cancel/")
    assert response.status_code == 404
    assert Job.objects.get(pk=theirs.pk).state == "queued"


def test_posts_without_a_csrf_token_are_refused(login, student, submit_job, printer):
    printer()
    job = submit_job(student)
    client = login(student)
    assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 403
    assert client.post("/jobs/submit/", {"machine_type": "printer-3d"}).status_code == 403
    assert Job.objects.get(pk=job.pk).state == "queued"


def test_control_urls_refuse_get(login, student, submit_job, printer):
    printer()
    job = submit_job(student)
    assert login(student).get(f"/jobs/{job.pk}/cancel/").status_code == 405
