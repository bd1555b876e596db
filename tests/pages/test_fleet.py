"""The staff fleet board: every machine's live state, temperatures, current job, errors, staleness,
the queue summary, the bed-cleared button, and a query count that does not grow with the fleet."""

from __future__ import annotations

import re

import pytest

from jobs import views
from jobs.services import job_transition, queue_lock, queue_stop
from jobs.services.bed import machine_bed_flag_set
from machines.machine_types.printer_state import PrinterBadResponse, PrinterState, PrinterStatus
from machines.registry import get_registry
from machines.state import forget_state
from tests.pages.conftest import csrf_post, printing_state, report, start_printing


def _card(html: str, machine) -> str:
    match = re.search(
        rf'<article class="card machine-card[^"]*" id="machine-{machine.pk}".*?</article>', html, re.S
    )
    assert match, f"no card for {machine.name}"
    return match.group(0)


@pytest.fixture
def fleet(printer, student, submit_job):
    """Four printers in four situations, all reported through the dummy driver's poll."""
    printing = printer("a-printing")
    job = start_printing(submit_job(student, name="bracket"), printing)
    report(printing, printing_state(job.printer_file_name, progress=42.0, time_left=1800.0))
    waiting = printer("b-bed")
    report(waiting, PrinterState(status=PrinterStatus.AWAITING_BED_CLEAR, raw_state="Operational"))
    broken = printer("c-broken")
    report(broken, PrinterBadResponse("HTTP 500 from /api/printer"))
    silent = printer("d-silent")
    report(silent, PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    forget_state(silent.pk)  # the cache lost it: the last persisted state is served, marked stale
    return {"printing": printing, "job": job, "bed": waiting, "broken": broken, "silent": silent}


def test_board_is_live_from_its_fragment(login, staff):
    html = login(staff).get("/fleet/").content.decode()
    assert 'data-live-url="/fleet/live/"' in html and "mes/live.js" in html


def test_each_machine_shows_its_live_state(login, staff, fleet):
    html = login(staff).get("/fleet/").content.decode()
    assert [m for m in re.findall(r'class="machine-name">([^<]+)<', html)] == [
        "a-printing",
        "b-bed",
        "c-broken",
        "d-silent",
    ]
    card = _card(html, fleet["printing"])
    assert 'data-status="111"' in card
    assert '<span class="badge primary machine-status" title="ok (111)">Printing</span>' in card
    assert re.search(r"Tool 0</td><td[^>]*>214.6 / 215 °C", card)
    assert re.search(r"Tool 1</td><td[^>]*>25.3 / 0 °C", card)
    assert re.search(r"Bed</td><td[^>]*>59.8 / 60 °C", card)
    # the job by its name, linked, with its owner and the file as uploaded; one state only (the badge)
    job = fleet["job"]
    assert f'<a class="job-name" href="/jobs/{job.pk}/">bracket</a>' in card
    assert '<span class="job-owner">student</span>' in card and '"muted job-file">bracket.gcode<' in card
    assert card.split("Machine details")[0].count("Printing") == 1
    assert '<progress max="100" value="42.0">' in card and "42 %" in card and "30 min left" in card
    assert "Pause</button>" in card and "Bed cleared" not in card
    assert "stale" not in card.split("Last seen")[1]
    assert re.search(r"The printer says</dt><dd class=\"vendor-state\">[^<]+</dd>", card)

    card = _card(html, fleet["bed"])
    assert (
        '<span class="badge warning machine-status" title="warning (201)">Awaiting bed clear</span>' in card
    )
    assert 'The printer says</dt><dd class="vendor-state">Operational</dd>' in card
    assert f'action="/fleet/{fleet["bed"].pk}/bed-cleared/"' in card and "Bed cleared</button>" in card

    card = _card(html, fleet["broken"])
    assert '<span class="badge danger machine-status" title="machine_fault (301)">Error</span>' in card
    assert "Unreadable answer: HTTP 500 from /api/printer" in card
    assert (
        '<ul class="errors machine-errors"><li>PrinterBadResponse: HTTP 500 from /api/printer</li></ul>'
        in card
    )

    card = _card(html, fleet["silent"])
    assert '<span class="badge success machine-status" title="ok (100)">Idle</span>' in card
    assert re.search(r'Last seen</dt><dd class="last-seen">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</dd>', card)
    assert '<span class="badge secondary">stale</span>' in card
    assert "stale-state" in card


def test_a_machine_never_seen_shows_its_default_status(login, staff, printer):
    machine = printer("new")
    card = _card(login(staff).get("/fleet/live/").content.decode(), machine)
    assert ">Unknown</span>" in card and 'class="last-seen">never<' in card and ">stale<" in card


def test_fragment_has_the_cards_and_the_queue_summary(login, staff, fleet, student, submit_job):
    submit_job(student, name="next")
    submit_job(student, name="after")
    response = login(staff).get("/fleet/live/")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert all(f'id="machine-{fleet[k].pk}"' in html for k in ("printing", "bed", "broken", "silent"))
    assert '<span class="queue-waiting">2 waiting</span>' in html
    assert '<span class="queue-running">1 running</span>' in html
    assert '<span class="queue-paused">0 paused</span>' in html
    assert '<span class="badge success">running</span>' in html


def test_the_summary_shows_a_stopped_and_a_locked_queue(login, staff, fleet):
    client = login(staff)
    queue_stop(user=staff)  # a job is printing: the stop waits for it
    assert "Queue stopping" in client.get("/fleet/live/").content.decode()
    queue_lock(user=staff, note="Filament delivery")
    html = client.get("/fleet/live/").content.decode()
    assert (
        "Queue locked" in html
        and "Filament delivery" in html
        and '<span class="badge warning">locked</span>' in html
    )


def test_staff_pause_from_the_board_and_return_to_it(login, staff, fleet):
    response = csrf_post(login(staff), f"/jobs/{fleet['job'].pk}/pause/", {"next": "/fleet/"})
    assert response.status_code == 302 and response.url == "/fleet/"
    fleet["job"].refresh_from_db()
    assert fleet["job"].requested_action == "pause"


def test_bed_cleared_button_frees_the_machine(login, staff, printer, student, submit_job):
    machine = printer("mk4")
    job = start_printing(submit_job(student, name="bracket"), machine)
    job_transition(job=job, to_state="completed", actor_kind="reconciler")
    machine_bed_flag_set(machine_id=machine.pk, required=True)
    report(machine, PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    client = login(staff)
    assert "Bed cleared</button>" in _card(client.get("/fleet/live/").content.decode(), machine)

    response = csrf_post(client, f"/fleet/{machine.pk}/bed-cleared/", follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "mk4: bed cleared, ready for the next job." in html
    assert "Bed cleared</button>" not in _card(html, machine)
    assert job.events.filter(extra__bed_cleared=True, actor=staff).exists()
    # a second press: nothing is waiting any more, and the page says so with a 409
    response = csrf_post(client, f"/fleet/{machine.pk}/bed-cleared/")
    assert (
        response.status_code == 409
        and "is not waiting for its bed to be cleared" in response.content.decode()
    )


def test_bed_cleared_for_an_unknown_machine_is_404(login, staff):
    response = csrf_post(login(staff), "/fleet/00000000-0000-0000-0000-000000000000/bed-cleared/")
    assert response.status_code == 404


@pytest.mark.parametrize("count", [3, 50])
def test_the_board_costs_a_constant_number_of_queries(
    login, staff, student, printer, submit_job, count, django_assert_max_num_queries
):
    machines = [printer(f"p{i:02d}") for i in range(count)]
    for machine in machines[::2]:  # half of them print a job: owners and jobs come in one query
        job = start_printing(submit_job(student, name=f"job-{machine.name}"), machine)
        report(machine, printing_state(job.printer_file_name))
    for machine in machines[1::2]:
        report(machine, PrinterState(status=PrinterStatus.IDLE))
    client = login(staff)
    get_registry()  # loaded once per process in real use
    assert client.get("/fleet/live/").status_code == 200
    # 8 for machines, jobs and the queue; 1 for unread notifications; 7 for spools (1), stock (2)
    # and maintenance (4); and on the embedded default (a database cache) 1 for the registry's
    # generation check, made at most every half second, so only when the box is slow.
    with django_assert_max_num_queries(17):
        response = client.get("/fleet/live/")
    # A page of cards (48): a lab of 50 printers gets two pages.
    assert response.content.decode().count('class="card machine-card') == min(count, views.FLEET_CARD_PAGE)
    with django_assert_max_num_queries(17):
        assert client.get("/fleet/").status_code == 200


def test_a_refusal_from_the_board_shows_the_board_with_the_reason(login, staff, fleet):
    response = csrf_post(login(staff), f"/jobs/{fleet['job'].pk}/resume/", {"next": "/fleet/"})
    assert response.status_code == 409
    html = response.content.decode()
    assert (
        'id="fleet-live"' in html and "Could not resume bracket: cannot resume a job that is printing" in html
    )


def test_after_completion_the_card_still_names_the_job_and_its_owner(
    login, staff, printer, student, submit_job
):
    machine = printer("e-done")
    job = start_printing(submit_job(student, name="phone stand"), machine)
    job_transition(job=job, to_state="completed", actor_kind="reconciler")
    machine_bed_flag_set(machine_id=machine.pk, required=True)
    report(machine, PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    card = _card(login(staff).get("/fleet/live/").content.decode(), machine)
    assert f'<a class="job-name" href="/jobs/{job.pk}/">phone stand</a>' in card
    assert '<span class="job-owner">student</span>' in card and 'job-outcome">completed<' in card
    assert job.printer_file_name not in card  # never the stored UUID name
    assert "Bed cleared</button>" in card and "Pause</button>" not in card


def test_the_job_page_shows_name_owner_file_and_history(
    login, staff, student, other_student, printer, submit_job
):
    machine = printer("f-page")
    job = start_printing(submit_job(student, name="gear"), machine)
    html = login(student).get(f"/jobs/{job.pk}/").content.decode()
    assert "<h1>gear <span" in html and 'class="job-owner">student<' in html and "f-page" in html
    assert "queued → dispatching" in html
    assert login(staff).get(f"/jobs/{job.pk}/").status_code == 200
    assert login(other_student).get(f"/jobs/{job.pk}/").status_code == 404


def test_the_staff_jobs_page_does_not_say_yours(login, staff):
    html = login(staff).get("/jobs/live/").content.decode()
    assert "Nothing is printing." in html and "of yours" not in html
