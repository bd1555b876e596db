"""My jobs: a live list with state, queue position, estimates and progress; buttons call the services."""

from __future__ import annotations

import re

import pytest

from jobs import signals
from jobs.models import Job, JobEvent
from jobs.services import job_transition, queue_lock, queue_stop
from jobs.services.bed import machine_bed_flag_set
from machines.machine_types.printer_state import PrinterState, PrinterStatus
from tests.pages.conftest import csrf_post, printing_state, report, start_printing


def _row(html: str, job) -> str:
    match = re.search(rf'<tr id="job-{job.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {job.name}"
    return match.group(0)


@pytest.fixture
def control_requests():
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    signals.job_control_requested.connect(receiver, weak=False)
    yield received
    signals.job_control_requested.disconnect(receiver)


def test_the_page_refreshes_its_list_from_the_fragment(login, student):
    html = login(student).get("/jobs/").content.decode()
    assert 'data-live-url="/jobs/live/"' in html and "mes/live.js" in html


def test_fragment_is_html_without_the_layout(login, student, printer, submit_job):
    printer()
    job = submit_job(student, name="bracket")
    response = login(student).get("/jobs/live/")
    html = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "<html" not in html and "<header" not in html
    assert 'data-state="queued"' in _row(html, job) and ">Queued</span>" in _row(html, job)


def test_waiting_jobs_show_queue_position_and_estimates(login, student, other_student, printer, submit_job):
    printer()
    submit_job(other_student, name="ahead-1")
    submit_job(other_student, name="ahead-2")
    mine = submit_job(student, name="mine")
    row = _row(login(student).get("/jobs/live/").content.decode(), mine)
    assert 'class="queue-position">3<' in row
    first = _row(login(other_student).get("/jobs/live/").content.decode(), Job.objects.get(name="ahead-1"))
    assert "(next up)" in first
    # one machine fits; owners take turns (jobs.fairshare), so "mine" prints after ahead-1 (1 h 02 min 03 s)
    assert "(in 1\xa0hour, 2\xa0minutes)" in row
    assert 'class="estimated-finish">' in row and "Cancel</button>" in row


def test_a_printing_job_shows_progress_time_left_and_its_buttons(login, student, printer, submit_job):
    machine = printer()
    job = submit_job(student, name="bracket")
    start_printing(job, machine)
    report(machine, printing_state(job.printer_file_name, progress=42.0, time_left=1800.0))
    row = _row(login(student).get("/jobs/live/").content.decode(), job)
    assert ">Printing</span>" in row and ">mk4<" in row
    assert '<progress max="100" value="42.0">' in row and "42 %" in row
    assert "(30 min left)" in row
    assert "Pause</button>" in row and "Cancel</button>" in row and "Resume</button>" not in row


def test_pause_button_asks_the_machine_through_the_service(
    login, student, printer, submit_job, control_requests, django_capture_on_commit_callbacks
):
    machine = printer()
    job = start_printing(submit_job(student, name="bracket"), machine)
    client = login(student)
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(client, f"/jobs/{job.pk}/pause/")
    assert response.status_code == 302 and response.url == "/jobs/"
    assert JobEvent.objects.filter(job=job, kind="request", actor=student, extra__request="pause").exists()
    assert {"job_id": job.pk, "machine_id": machine.pk, "action": "pause"} in [
        {k: r[k] for k in ("job_id", "machine_id", "action")} for r in control_requests
    ]
    html = client.get("/jobs/").content.decode()
    assert "bracket: pause requested" in html


def test_resume_and_cancel_of_a_paused_job(login, student, printer, submit_job):
    machine = printer()
    job = start_printing(submit_job(student, name="bracket"), machine)
    job_transition(job=job, to_state="paused", actor_kind="reconciler")
    client = login(student)
    row = _row(client.get("/jobs/live/").content.decode(), job)
    assert "Resume</button>" in row and "Pause</button>" not in row
    assert csrf_post(client, f"/jobs/{job.pk}/resume/").status_code == 302
    assert Job.objects.get(pk=job.pk).requested_action == "resume"
    assert csrf_post(client, f"/jobs/{job.pk}/cancel/").status_code == 302
    assert Job.objects.get(pk=job.pk).requested_action == "cancel"


def test_the_buttons_offer_what_the_apis_controls_say(login, student, printer, submit_job):
    """Pages and API share one rule (jobs.selectors.job_controls): the same actions in every state."""
    first, second = printer("a"), printer("b")
    printing = start_printing(submit_job(student, name="printing"), first)
    paused = start_printing(submit_job(student, name="paused"), second)
    waiting = submit_job(student, name="waiting")
    job_transition(job=paused, to_state="paused", actor_kind="reconciler")
    client = login(student)

    def offered(job) -> tuple[dict[str, bool], dict[str, bool]]:
        row = _row(client.get("/jobs/live/").content.decode(), job)
        buttons = {
            f"can_{action}": f"{action.title()}</button>" in row for action in ("pause", "resume", "cancel")
        }
        return buttons, client.get(f"/api/jobs/{job.pk}/").json()["controls"]

    expected = {
        waiting: {"can_pause": False, "can_resume": False, "can_cancel": True},
        printing: {"can_pause": True, "can_resume": False, "can_cancel": True},
        paused: {"can_pause": False, "can_resume": True, "can_cancel": True},
    }
    for job, controls in expected.items():
        assert offered(job) == (controls, controls), job.name
    assert (
        csrf_post(client, f"/jobs/{printing.pk}/pause/").status_code == 302
    )  # asked once: not offered again
    asked = {"can_pause": False, "can_resume": False, "can_cancel": True}
    assert offered(printing) == (asked, asked)


def test_cancelling_a_waiting_job_moves_it_to_the_history(login, student, printer, submit_job):
    printer()
    job = submit_job(student, name="bracket")
    client = login(student)
    response = csrf_post(client, f"/jobs/{job.pk}/cancel/", follow=True)
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.state == "cancelled" and job.position is None
    html = response.content.decode()
    assert "bracket: cancelled." in html
    history = html.split('id="jobs-history"')[1]
    assert f'id="job-{job.pk}"' in history and ">Cancelled</span>" in history


def test_an_illegal_request_is_a_409_with_the_reason(login, student, printer, submit_job):
    machine = printer()
    job = start_printing(submit_job(student, name="bracket"), machine)
    response = csrf_post(login(student), f"/jobs/{job.pk}/resume/")
    assert response.status_code == 409
    assert "Could not resume bracket: cannot resume a job that is printing (only when paused)" in (
        response.content.decode()
    )
    assert Job.objects.get(pk=job.pk).requested_action == ""


def test_a_refusal_never_shows_a_student_the_fleet_board(login, student, printer, submit_job):
    machine = printer()
    job = start_printing(submit_job(student, name="bracket"), machine)
    response = csrf_post(login(student), f"/jobs/{job.pk}/resume/", {"next": "/fleet/"})
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="jobs-live"' in html and "fleet-live" not in html


def test_a_locked_queue_refuses_cancel_with_423_and_the_note(login, student, staff, printer, submit_job):
    printer()
    job = submit_job(student, name="bracket")
    queue_lock(user=staff, note="Maintenance until 14:00")
    response = csrf_post(login(student), f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 423
    html = response.content.decode()
    assert "Queue locked" in html and "Maintenance until 14:00" in html
    assert Job.objects.get(pk=job.pk).state == "queued"


def test_a_stopped_queue_is_announced(login, student, staff):
    queue_stop(user=staff)
    assert "Queue stopped" in login(student).get("/jobs/live/").content.decode()


def test_next_only_redirects_within_the_site(login, student, printer, submit_job):
    printer()
    job = submit_job(student)
    response = csrf_post(login(student), f"/jobs/{job.pk}/cancel/", {"next": "https://evil.example/"})
    assert response.url == "/jobs/"


def test_the_student_confirms_their_plate_was_cleared(login, student, other_student, printer, submit_job):
    machine = printer()
    job = start_printing(submit_job(student, name="bracket"), machine)
    job_transition(job=job, to_state="completed", actor_kind="reconciler")
    report(machine, PrinterState(status=PrinterStatus.IDLE))
    machine_bed_flag_set(machine_id=machine.pk, required=True)
    client = login(student)
    row = _row(client.get("/jobs/live/").content.decode(), job)
    assert (
        f'action="/jobs/machines/{machine.pk}/bed-cleared/"' in row and "Bed cleared on mk4</button>" in row
    )
    # someone else's print was not on that plate: the service refuses them
    response = csrf_post(login(other_student), f"/jobs/machines/{machine.pk}/bed-cleared/")
    assert (
        response.status_code == 403
        and "only lab staff or the owner of the last job" in response.content.decode()
    )
    response = csrf_post(client, f"/jobs/machines/{machine.pk}/bed-cleared/", follow=True)
    html = response.content.decode()
    assert "mk4: bed cleared, ready for the next job." in html and "Bed cleared on mk4" not in html
    assert job.events.filter(extra__bed_cleared=True, actor=student).exists()


@pytest.mark.parametrize("count", [4, 14])
def test_my_jobs_costs_a_constant_number_of_queries(
    login, student, printer, submit_job, count, django_assert_max_num_queries
):
    machines = [printer("mk4-a"), printer("mk4-b")]
    jobs = [submit_job(student, name=f"job{i}") for i in range(count)]
    for job, machine in zip(jobs, machines, strict=False):  # two print, the rest wait
        start_printing(job, machine)
        report(machine, printing_state(job.printer_file_name))
    job_transition(job=jobs[2], to_state="cancelled", actor_kind="user")
    client = login(student)
    assert client.get("/jobs/live/").status_code == 200
    # 12, 1 for the unread notifications in the header, 4 for why queued jobs wait (machines,
    # spool tracking, spools, maintenance), 4 for the lab's policies (training requirements, opening
    # hours, closures, quotas), and the estimates' queue forecast (jobs.forecast): the waiting jobs,
    # machines, spools, maintenance, active jobs, the policies again, the machines' speed factors and
    # the owners' fair-share turns (jobs on machines, last dispatch).
    with django_assert_max_num_queries(30):
        html = client.get("/jobs/live/").content.decode()
    assert html.count('<tr id="job-') == count
