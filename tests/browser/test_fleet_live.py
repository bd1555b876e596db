"""The fleet board updates itself in Chromium through htmx, sending only what changed: the printing
machine's card (or table row) is swapped out of band, an open menu on it stays open, the page is never
reloaded, and the table view pages keep the filters. The card shows the job's slicer picture."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SERIAL
from tests.browser.test_staff_fleet import PRINT_SECONDS, _only_on
from tests.jobs.dispatch_support import gcode, submit_job
from tests.jobs.thumbnail_samples import block, tiny_png, with_header

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def printing_fleet(farm, runtime, make_user):
    student = make_user("grace")
    with SERIAL:
        busy = farm.add_machine("mk4-busy", tags="open")
        idle = farm.add_machine("mk4-idle", tags="open")
        farm.poll(busy, idle)
        runtime.tasks.drain()
        content = with_header(gcode(seconds=PRINT_SECONDS), block(tiny_png(32, 24), 32, 24))
        submit_job(student, name="gear", content=content, constraints=_only_on(busy))
    runtime.start(busy, idle)
    return {"busy": busy, "idle": idle}


def _is_partial(response) -> bool:
    return "/fleet/live/" in response.url and response.headers.get("hx-reswap") == "none"


def test_the_board_swaps_only_the_changed_card_and_keeps_menus_open(page, login, make_user, printing_fleet):
    login(page.context, make_user("tech", staff=True))
    page.goto("/fleet/")
    page.evaluate("window.samePage = true")  # gone if the page were ever reloaded
    busy = page.locator("article.machine-card", has_text="mk4-busy")
    expect(busy.locator(".machine-status")).to_have_text("Printing")
    picture = busy.locator("img.job-thumbnail")  # the slicer's picture, loaded through the login
    expect(picture).to_have_attribute("alt", "Slicer preview of gear")
    page.wait_for_function("img => img.complete && img.naturalWidth === 32", arg=picture.element_handle())
    busy.locator("details.machine-details summary").click()
    with page.expect_response(_is_partial) as answer:
        pass
    body = answer.value.text()
    assert body.count('class="card machine-card') == 1 and "mk4-busy" in body and "mk4-idle" not in body
    expect(busy.locator("details.machine-details")).to_have_attribute("open", "")
    with page.expect_response(_is_partial):
        pass
    expect(busy.locator("details.machine-details")).to_have_attribute("open", "")
    expect(page.locator("article.machine-card")).to_have_count(2)
    assert page.evaluate("window.samePage") is True


def test_the_table_view_is_live_and_keeps_the_filters(page, login, make_user, printing_fleet):
    login(page.context, make_user("tech", staff=True))
    page.goto("/fleet/?tag=open")
    page.get_by_role("link", name="Table").click()
    expect(page).to_have_url(re.compile(r"[?&]view=table"))
    expect(page).to_have_url(re.compile(r"[?&]tag=open"))
    rows = page.locator("tr.machine-row")
    expect(rows).to_have_count(2)
    busy = page.locator("tr.machine-row", has_text="mk4-busy")
    expect(busy.locator(".machine-status")).to_have_text("Printing")
    page.evaluate("window.samePage = true")
    with page.expect_response(_is_partial) as answer:
        pass
    assert answer.value.text().count('class="machine-row') == 1
    expect(busy.locator("progress")).to_be_visible()
    expect(rows).to_have_count(2)
    page.get_by_label("Search").fill("busy")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]view=table"))  # the view survives filtering
    expect(rows).to_have_count(1)
    assert page.evaluate("window.samePage") is None  # a new page: the filter form was submitted
