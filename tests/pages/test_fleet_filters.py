"""The fleet board's filters: search, status, type and tag, on the server, kept in the query string
(the live fragment and the cards' buttons keep them too)."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, StagedUpload
from machines.machine_types.printer_state import PrinterState, PrinterStatus
from tests.pages.conftest import csrf_post, gcode, printing_state, report, start_printing

pytestmark = pytest.mark.django_db


def _names(html: str) -> list[str]:
    return re.findall(r'class="machine-name">([^<]+)<', html)


@pytest.fixture
def fleet(printer, student, submit_job):
    busy = printer("mk4-busy", tags=("open",))
    job = start_printing(submit_job(student, name="hinge"), busy)
    report(busy, printing_state(job.printer_file_name))
    idle = printer("mk4-idle", tags=("open",))
    report(idle, PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    closed = printer("core-one", tags=("Enclosed",))
    report(closed, PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    return {"busy": busy, "job": job}


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["core-one", "mk4-busy", "mk4-idle"]),
        ("?tag=open", ["mk4-busy", "mk4-idle"]),
        ("?tag=enclosed", ["core-one"]),  # tags match whatever their case
        ("?status=111", ["mk4-busy"]),
        ("?status=100&tag=open", ["mk4-idle"]),
        ("?q=MK4", ["mk4-busy", "mk4-idle"]),
        ("?q=hinge", ["mk4-busy"]),  # the job's name
        ("?q=student", ["mk4-busy"]),  # its owner
        ("?type=printer-3d", ["core-one", "mk4-busy", "mk4-idle"]),
        ("?type=laser-cutter", []),
    ],
)
def test_filters_narrow_the_board_and_its_fragment(login, staff, fleet, query, names):
    client = login(staff)
    board = client.get(f"/fleet/{query}").content.decode()
    assert _names(board) == names
    assert _names(client.get(f"/fleet/live/{query}").content.decode()) == names
    if query:
        assert f'data-live-url="/fleet/live/{query.replace("&", "&amp;")}"' in board
        assert f"Showing {len(names)} of 3 machines." in board
    if not names:
        assert "No machine matches these filters." in board


def test_the_form_offers_what_the_fleet_has_and_shows_the_choice(login, staff, fleet):
    html = login(staff).get("/fleet/?status=111&tag=open&q=hinge").content.decode()
    assert '<option value="100">Idle</option>' in html
    assert '<option value="111" selected>Printing</option>' in html
    assert '<option value="printer-3d">3D printer</option>' in html
    assert '<option value="open" selected>open</option>' in html and ">Enclosed</option>" in html
    assert 'name="q" value="hinge"' in html
    # A card's buttons bring the user back to the same filtered board.
    assert 'name="next" value="/fleet/?status=111&amp;tag=open&amp;q=hinge"' in html


def test_students_see_no_filters(login, student, fleet):
    html = login(student).get("/fleet/?tag=open").content.decode()
    assert "fleet-filters" not in html and _names(html) == ["core-one", "mk4-busy", "mk4-idle"]


def test_upload_script_gets_the_preview_row_and_the_message_waits_after_confirm(login, student, printer):
    """upload.js posts each file with XMLHttpRequest and gets its preview row; "Confirm" is a plain post
    whose 303 leads to "my jobs", where the message is shown."""
    printer()
    client = login(student)
    data = {"machine_type": "printer-3d", "file": SimpleUploadedFile("cube.gcode", gcode()), "name": "Cube"}
    response = csrf_post(client, "/jobs/submit/", data, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 200 and "data-preview-row" in response.content.decode()
    preview = StagedUpload.objects.get()
    confirmed = csrf_post(client, "/jobs/submit/confirm/", {"preview": str(preview.pk)})
    assert confirmed.status_code == 303 and confirmed.url == f"/jobs/#job-{Job.objects.get().pk}"
    assert "Cube was submitted and is in the queue." in client.get("/jobs/").content.decode()


def test_the_wall_screen_is_the_board_alone_and_keeps_the_filters(login, staff, fleet):
    client = login(staff)
    assert (
        'href="?wall=1" class="heading-button wall-link">Wall screen</a>'
        in client.get("/fleet/").content.decode()
    )
    html = client.get("/fleet/?tag=open&wall=1").content.decode()
    assert '<div class="wall-screen">' in html and "Leave the wall screen" in html
    assert "fleet-filters" not in html and _names(html) == ["mk4-busy", "mk4-idle"]
    assert 'data-live-url="/fleet/live/?tag=open&amp;wall=1"' in html
