"""A machine's page for staff (/machines/<id>/): its live card with the controls, the jobs it printed
with outcome and duration, its events, what the driver reports and its settings, secrets hidden."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from jobs.models import Job
from machines.machine_types.printer_state import Temperature
from machines.services import machine_settings_update
from tests.pages.conftest import csrf_post, printing_state, report, start_printing

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine(printer, student, submit_job, settings):
    settings.MACHINES_TEMPERATURE_SAMPLE_SECONDS = 0  # every poll adds a sample to the chart
    config = printer("mk4-07", tags=("open",))
    machine_settings_update(machine=config, settings={"API_KEY": "s3cret-key-123"})
    done = start_printing(submit_job(student, name="bracket"), config)
    Job.objects.filter(pk=done.pk).update(
        state="completed",
        finished_at=done.started_at + timedelta(hours=1, minutes=5),
        state_reason="finished on mk4-07",
    )
    now = start_printing(submit_job(student, name="hinge"), config)
    report(config, printing_state(now.printer_file_name, progress=20.0))
    hotter = printing_state(now.printer_file_name, progress=42.0)
    hotter.temperatures["tool0"] = Temperature(actual=215.2, target=215.0)
    report(config, hotter)
    return config


def test_a_machine_that_reported_less_than_twice_has_no_chart_yet(login, staff, printer, settings):
    config = printer("fresh")
    html = login(staff).get(f"/machines/{config.pk}/").content.decode()
    assert "<svg viewBox" not in html and "No readings yet" in html


def test_staff_see_the_machine_live_with_its_history_and_settings(login, staff, machine):
    html = login(staff).get(f"/machines/{machine.pk}/").content.decode()
    assert "<h1>mk4-07" in html and "3D printer · open" in html
    assert f'data-live-url="/machines/{machine.pk}/live/"' in html
    assert 'machine-status" title="ok (111)">Printing</span>' in html  # the fleet card, live
    assert ">Pause</button>" in html and f'name="next" value="/machines/{machine.pk}/"' in html
    history = html[html.index('id="machine-jobs"') : html.index('id="machine-events"')]
    assert re.findall(r'<a href="/jobs/[0-9a-f-]+/">([^<]+)</a>', history) == ["hinge", "bracket"]
    assert '<td class="duration">1 h 05 min</td>' in history and ">Completed</span>" in history
    settings = html[html.index('id="machine-settings"') :]
    assert "s3cret-key-123" not in html
    assert re.search(r'data-key="API_KEY">.*?set, hidden', settings)
    assert re.search(r'data-key="HOST">.*?mk4-07.lab', settings)
    assert re.search(r'data-key="TAGS">.*?open<', settings)
    chart = html[html.index('id="machine-temperatures"') : html.index('id="machine-jobs"')]
    assert '<svg viewBox="0 0 600 200" role="img" aria-label="Temperatures from' in chart
    assert re.findall(
        r'<polyline class="series series-\d" data-sensor="([a-z0-9]+)" points="[0-9., ]+"/>', chart
    ) == [
        "tool0",
        "tool1",
        "bed",
    ]
    assert "Tool 0 215 °C" in chart and "Bed 60 °C" in chart  # the latest readings, in the legend
    fragment = login(staff).get(f"/machines/{machine.pk}/live/").content.decode()
    assert 'class="card machine-card' in fragment and "<h1>" not in fragment


def test_the_fleet_card_links_to_the_machine_page(login, staff, machine):
    html = login(staff).get("/fleet/").content.decode()
    assert f'<a href="/machines/{machine.pk}/" class="machine-name">mk4-07</a>' in html


def test_a_control_from_the_machine_page_comes_back_to_it(login, staff, machine):
    response = csrf_post(
        login(staff),
        f"/fleet/{machine.pk}/maintenance/start/",
        {"reason": "nozzle swap", "next": f"/machines/{machine.pk}/"},
    )
    assert response.status_code == 302 and response.url == f"/machines/{machine.pk}/"


def test_students_are_refused_and_unknown_machines_are_not_found(login, student, staff, machine):
    assert login(student).get(f"/machines/{machine.pk}/").status_code == 403
    assert login(staff).get("/machines/00000000-0000-0000-0000-000000000000/").status_code == 404
