"""The admin for jobs, machines and events: state badges (colour and text), stage/status/error filters,
pause and resume actions through the services, and links to the job and machine pages (a link column
and "View on site")."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from events.models import Event
from jobs.models import Job
from jobs.services import job_request_pause
from machines.machine_types.printer_state import PrinterState, PrinterStatus, PrinterUnreachable
from machines.registry import get_registry
from tests.jobs.helpers import make_job
from tests.pages.conftest import report, start_printing

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(staff) -> Client:
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    return client


def test_jobs_show_state_badges_and_link_to_their_pages(admin, staff, student, printer, submit_job):
    machine = printer("mk4")
    printing = start_printing(submit_job(student, name="gear"), machine)
    waiting = make_job(student, name="bolt")
    job_request_pause(job=printing, user=staff, reason="first layer")
    html = admin.get("/admin/jobs/job/").content.decode()
    assert "mes/admin-badges.css" in html
    assert '<span class="mes-badge mes-badge-primary">Printing</span>' in html
    assert '<span class="mes-badge mes-badge-info">Queued</span>' in html
    assert f'<a href="/jobs/{printing.pk}/">job page</a>' in html
    assert f'<a href="/machines/{machine.pk}/">mk4</a>' in html
    change = admin.get(f"/admin/jobs/job/{printing.pk}/change/").content.decode()
    assert (
        f'<a href="/jobs/{printing.pk}/">Job page</a> · <a href="/machines/{machine.pk}/">Machine page</a>'
        in change
    )
    assert "View on site" in change
    who = re.findall(r'field-who">\s*<p>([^<]*)</p>', change)
    assert who == ["student", "system", "scheduler", "scheduler", "printer", "staff"]  # as on the job page
    waiting_page = admin.get("/admin/jobs/job/?stage=waiting").content.decode()
    assert f"/jobs/{waiting.pk}/" in waiting_page and f"/jobs/{printing.pk}/" not in waiting_page
    on_machine = admin.get("/admin/jobs/job/?stage=on_machine").content.decode()
    assert f"/jobs/{printing.pk}/" in on_machine and f"/jobs/{waiting.pk}/" not in on_machine


def test_view_on_site_opens_the_pages(admin, student, printer):
    machine = printer("mk4")
    job = make_job(student, name="bolt")
    for change, page in (
        (f"/admin/jobs/job/{job.pk}/change/", f"/jobs/{job.pk}/"),
        (f"/admin/machines/machineconfig/{machine.pk}/change/", f"/machines/{machine.pk}/"),
    ):
        assert f'<a href="{page}" class="viewsitelink">View on site</a>' in admin.get(change).content.decode()


def test_pause_and_resume_actions_go_through_the_services(admin, student, printer, submit_job):
    machine = printer("mk4")
    job = start_printing(submit_job(student, name="gear"), machine)
    admin.post("/admin/jobs/job/", {"action": "pause", "_selected_action": [str(job.pk)]})
    assert Job.objects.get(pk=job.pk).requested_action == "pause"
    waiting = make_job(student, name="bolt")
    response = admin.post(
        "/admin/jobs/job/", {"action": "resume", "_selected_action": [str(waiting.pk)]}, follow=True
    )
    assert Job.objects.get(pk=waiting.pk).requested_action == ""
    assert "bolt" in response.content.decode()  # refused for a waiting job, said why by name


def test_machines_filter_by_status_and_errors_and_link_to_their_page(admin, printer):
    good, gone = printer("good"), printer("gone")
    driver = get_registry().get_driver("dummy-printer")
    report(good, PrinterState(status=PrinterStatus.PRINTING))
    driver.states["gone"] = PrinterUnreachable("timed out")
    get_registry().poll(get_registry().get_machine(gone.pk))
    get_registry().get_machine(gone.pk).handle_error("cable unplugged")
    html = admin.get("/admin/machines/machineconfig/").content.decode()
    assert f'<a href="/machines/{good.pk}/">machine page</a>' in html
    working = admin.get("/admin/machines/machineconfig/?status=ok").content.decode()
    assert f"/machines/{good.pk}/" in working and f"/machines/{gone.pk}/" not in working
    offline = admin.get("/admin/machines/machineconfig/?status=error").content.decode()
    assert f"/machines/{gone.pk}/" in offline and f"/machines/{good.pk}/" not in offline
    with_errors = admin.get("/admin/machines/machineconfig/?has_errors=yes").content.decode()
    assert f"/machines/{gone.pk}/" in with_errors and f"/machines/{good.pk}/" not in with_errors


def test_events_link_to_the_machine_and_job(admin, student, printer, submit_job):
    machine = printer("mk4")
    job = start_printing(submit_job(student, name="gear"), machine)
    assert Event.objects.filter(job_id=job.pk).exists()
    html = admin.get("/admin/events/event/").content.decode()
    assert f'<a href="/jobs/{job.pk}/">{str(job.pk)[:8]}</a>' in html
