"""Live updates that send only what changed: the fleet board's versions, out-of-band cards and 204s
(jobs/fleet_live.py), the other live parts' 204 when unchanged (mes/live.py), and the compact table
view with its pages (/fleet/?view=table)."""

from __future__ import annotations

import re

import pytest

from jobs import views
from machines.machine_types.printer_state import PrinterState, PrinterStatus
from tests.pages.conftest import printing_state, report, start_printing

HX = {"HTTP_HX_REQUEST": "true"}


def live(client, url="/fleet/live/", version=""):
    headers = dict(HX)
    if version:
        headers["HTTP_X_LIVE_VERSION"] = version
    return client.get(url, **headers)


def oob_ids(html: str) -> list[str]:
    return re.findall(r'id="([^"]+)"[^>]*hx-swap-oob="true"', html)


@pytest.fixture
def board(printer, student, submit_job):
    machines = [printer(f"p{i}") for i in range(5)]
    job = start_printing(submit_job(student, name="bracket"), machines[0])
    report(machines[0], printing_state(job.printer_file_name, progress=10.0))
    for machine in machines[1:]:
        report(machine, PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    return {"machines": machines, "job": job}


def test_the_first_answer_is_the_whole_board_with_a_version(login, staff, board):
    response = live(login(staff))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{24}", response["X-Live-Version"])
    html = response.content.decode()
    assert html.count('class="card machine-card') == 5 and 'id="fleet-summary"' in html
    assert "hx-swap-oob" not in html and not response.has_header("HX-Reswap")


def test_nothing_changed_is_204_with_no_body(login, staff, board):
    client = login(staff)
    version = live(client)["X-Live-Version"]
    response = live(client, version=version)
    assert response.status_code == 204 and response.content == b""
    assert response["X-Live-Version"] == version


def test_a_new_poll_that_changes_only_last_seen_is_still_204(login, staff, board):
    client = login(staff)
    version = live(client)["X-Live-Version"]
    report(board["machines"][3], PrinterState(status=PrinterStatus.IDLE, raw_state="Operational"))
    assert live(client, version=version).status_code == 204


def test_only_the_changed_card_is_sent_out_of_band(login, staff, board):
    client = login(staff)
    version = live(client)["X-Live-Version"]
    printing, job = board["machines"][0], board["job"]
    report(printing, printing_state(job.printer_file_name, progress=55.0))
    response = live(client, version=version)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    html = response.content.decode()
    assert oob_ids(html) == [f"machine-{printing.pk}"]
    assert '<progress max="100" value="55.0">' in html and html.count("machine-card") == 1
    assert response["X-Live-Version"] != version
    # and from the new version on, nothing again
    assert live(client, version=response["X-Live-Version"]).status_code == 204


def test_a_queue_change_sends_the_summary_alone(login, staff, student, board, submit_job):
    client = login(staff)
    version = live(client)["X-Live-Version"]
    submit_job(student, name="next")
    html = live(client, version=version).content.decode()
    assert oob_ids(html) == ["fleet-summary"] and '<span class="queue-waiting">1 waiting</span>' in html


def test_two_staff_share_versions(login, staff, board, django_user_model):
    version = live(login(staff))["X-Live-Version"]
    other = django_user_model.objects.create_user("staff2", is_staff=True)
    assert live(login(other), version=version).status_code == 204


def test_an_unknown_or_expired_version_gets_the_whole_board(login, staff, board):
    response = live(login(staff), version="0" * 24)
    assert response.status_code == 200 and not response.has_header("HX-Reswap")
    assert response.content.decode().count('class="card machine-card') == 5


def test_a_machine_leaving_the_filter_sends_the_whole_list(login, staff, board):
    client = login(staff)
    url = "/fleet/live/?status=100"  # idle
    first = live(client, url)
    assert first.content.decode().count('class="card machine-card') == 4
    report(board["machines"][1], PrinterState(status=PrinterStatus.PAUSED, raw_state="Paused"))
    response = live(client, url, version=first["X-Live-Version"])
    assert not response.has_header("HX-Reswap")
    html = response.content.decode()
    assert html.count('class="card machine-card') == 3 and "Showing 3 of 5 machines" in html


def test_plain_requests_still_get_the_whole_fragment(login, staff, board):
    response = login(staff).get("/fleet/live/", HTTP_X_LIVE_VERSION="whatever")
    assert response.status_code == 200 and "machine-card" in response.content.decode()


def test_other_live_parts_answer_204_when_unchanged(login, student, board):
    client = login(student)
    for url in ("/jobs/live/", "/fleet/live/"):  # my jobs (with CSRF tokens in its forms), availability
        first = live(client, url)
        assert first.status_code == 200 and first["X-Live-Version"], url
        assert live(client, url, version=first["X-Live-Version"]).status_code == 204, url
        assert live(client, url, version="stale").status_code == 200, url


def test_the_page_loads_htmx_configured_for_the_policy(login, staff, board):
    html = login(staff).get("/fleet/").content.decode()
    assert '<script src="/static/mes/htmx.min.js" defer></script>' in html
    assert '"includeIndicatorStyles":false' in html and '"allowEval":false' in html
    assert 'data-live-url="/fleet/live/"' in html


# -- the compact table view ----------------------------------------------------------------------------
def test_the_table_has_a_row_per_machine_with_its_state(login, staff, board):
    html = login(staff).get("/fleet/?view=table").content.decode()
    rows = re.findall(r'<tr id="row-[^"]+" class="machine-row[^"]*".*?</tr>', html, re.S)
    assert len(rows) == 5 and "machine-card" not in html
    printing = next(row for row in rows if str(board["machines"][0].pk) in row)
    assert '<span class="badge primary machine-status">Printing</span>' in printing
    assert '<progress max="100" value="10.0"></progress>' in printing and "10 %" in printing
    assert "Tool 0 215/215" in printing and "Bed 60/60" in printing
    assert f'href="/jobs/{board["job"].pk}/">bracket</a>' in printing and ">student<" in printing
    assert 'data-live-url="/fleet/live/?view=table"' in html
    assert '<input type="hidden" name="view" value="table">' in html  # filtering keeps the view


def test_the_table_is_paginated_and_its_links_keep_the_filters(login, staff, board, monkeypatch):
    monkeypatch.setattr(views, "FLEET_TABLE_PAGE", 2)
    client = login(staff)
    html = client.get("/fleet/?view=table&q=p").content.decode()
    assert html.count('class="machine-row') == 2 and "Page 1 of 3" in html
    assert 'href="?view=table&amp;q=p&amp;page=2"' in html and 'rel="next"' in html
    html = client.get("/fleet/?view=table&q=p&page=3").content.decode()
    assert html.count('class="machine-row') == 1 and "Page 3 of 3" in html
    assert 'href="?view=table&amp;q=p&amp;page=2" class="page-link" rel="prev"' in html
    html = client.get("/fleet/?view=table&page=999").content.decode()  # out of range: the last page
    assert "Page 3 of 3" in html


def test_the_table_live_update_sends_only_its_changed_rows(login, staff, board, monkeypatch):
    monkeypatch.setattr(views, "FLEET_TABLE_PAGE", 2)
    client = login(staff)
    url = "/fleet/live/?view=table&page=1"
    version = live(client, url)["X-Live-Version"]
    # page 3; an error with no job changes the card only (a pause with no job of ours would be an
    # external print, which the queue summary counts)
    report(board["machines"][4], PrinterState(status=PrinterStatus.ERROR, message="Heater fault"))
    assert live(client, url, version=version).status_code == 204  # not on this page
    job = board["job"]
    report(board["machines"][0], printing_state(job.printer_file_name, progress=80.0))
    html = live(client, url, version=version).content.decode()
    assert html.startswith("<template>") and oob_ids(html) == [f"row-{board['machines'][0].pk}"]


def test_the_table_costs_a_constant_number_of_queries(login, staff, printer, django_assert_max_num_queries):
    for i in range(30):
        printer(f"q{i:02d}")
    client = login(staff)
    version = live(client, "/fleet/live/?view=table")["X-Live-Version"]
    with django_assert_max_num_queries(20):
        assert live(client, "/fleet/live/?view=table", version=version).status_code == 204
    with django_assert_max_num_queries(20):
        assert client.get("/fleet/?view=table").status_code == 200


def test_the_unfiltered_table_refresh_builds_only_its_page(login, staff, board, monkeypatch):
    monkeypatch.setattr(views, "FLEET_TABLE_PAGE", 2)
    built = []
    original = views.fleet_cards
    monkeypatch.setattr(
        views, "fleet_cards", lambda machines=None: built.append(machines) or original(machines)
    )
    html = live(login(staff), "/fleet/live/?view=table&page=2").content.decode()
    assert [[m.name for m in machines] for machines in built] == [["p2", "p3"]]
    assert html.count('class="machine-row') == 2 and "Page 2 of 3" in html


def test_the_cards_are_paginated_and_their_links_keep_the_filters(login, staff, board, monkeypatch):
    monkeypatch.setattr(views, "FLEET_CARD_PAGE", 2)
    client = login(staff)
    html = client.get("/fleet/?q=p").content.decode()
    assert html.count('<article class="card machine-card') == 2 and "Page 1 of 3" in html
    assert 'href="?q=p&amp;page=2"' in html and 'rel="next"' in html
    html = client.get("/fleet/?q=p&page=3").content.decode()
    assert html.count('<article class="card machine-card') == 1 and ">p4<" in html


def test_the_unfiltered_card_refresh_builds_and_sends_only_its_page(login, staff, board, monkeypatch):
    monkeypatch.setattr(views, "FLEET_CARD_PAGE", 2)
    built = []
    original = views.fleet_cards
    monkeypatch.setattr(
        views, "fleet_cards", lambda machines=None: built.append(machines) or original(machines)
    )
    client = login(staff)
    response = live(client, "/fleet/live/?page=2")
    assert [[m.name for m in machines] for machines in built] == [["p2", "p3"]]
    html = response.content.decode()
    assert html.count('<article class="card machine-card') == 2 and "Page 2 of 3" in html
    url = "/fleet/live/?page=1"
    version = live(client, url)["X-Live-Version"]
    # page 3; an error with no job changes the card only (a pause with no job of ours would be an
    # external print, which the queue summary counts)
    report(board["machines"][4], PrinterState(status=PrinterStatus.ERROR, message="Heater fault"))
    assert live(client, url, version=version).status_code == 204  # not on this page
    report(board["machines"][0], printing_state(board["job"].printer_file_name, progress=80.0))
    html = live(client, url, version=version).content.decode()
    assert oob_ids(html) == [f"machine-{board['machines'][0].pk}"]
