"""Lab staff filter the fleet board, open a machine's page and pause and resume its print, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SERIAL
from tests.jobs.dispatch_support import submit_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRINT_SECONDS = 3600  # simulated: it prints for the whole test


@pytest.fixture
def busy_fleet(farm, runtime, make_user):
    """Three simulated printers; the enclosed one prints a long job for a student."""
    student = make_user("ada")
    with SERIAL:
        open_one = farm.add_machine("mk4-open", tags="open")
        enclosed = farm.add_machine("core-one", tags="enclosed")
        spare = farm.add_machine("mk4-spare", tags="open")
        farm.poll(open_one, enclosed, spare)
        runtime.tasks.drain()
        farm.fault(open_one, offline=True)  # unreachable: shows as a problem on the board
        job = submit_job(
            student, name="enclosure-hinge", seconds=PRINT_SECONDS, constraints=_only_on(enclosed)
        )
    runtime.start(open_one, enclosed, spare)
    return {"job": job, "enclosed": enclosed, "open": open_one, "spare": spare}


def _only_on(machine):
    from jobs.preflight import JobConstraints

    return JobConstraints(target_machine_id=machine.pk)


def test_staff_filter_the_board_open_a_machine_and_pause_and_resume_its_print(
    page, login, make_user, busy_fleet
):
    login(page.context, make_user("tech", staff=True))
    page.goto("/fleet/")
    cards = page.locator("article.machine-card")
    expect(cards).to_have_count(3)
    hinge = page.locator("article.machine-card", has_text="core-one")
    expect(hinge.locator(".machine-status")).to_have_text("Printing")  # the live board follows the runtime

    page.get_by_label("Tag").select_option("open")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]tag=open"))
    expect(cards).to_have_count(2)
    expect(page.get_by_text("Showing 2 of 3 machines.")).to_be_visible()
    expect(page.locator("article.machine-card", has_text="core-one")).to_have_count(0)

    page.get_by_label("Tag").select_option("")
    page.get_by_label("Search").fill("hinge")  # the job's name finds its machine
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]q=hinge"))
    expect(cards).to_have_count(1)
    expect(hinge.locator(".job-name")).to_have_text("enclosure-hinge")
    expect(hinge.locator(".job-owner")).to_have_text("ada")

    hinge.get_by_role("link", name="core-one").click()  # the machine's page
    expect(page.get_by_role("heading", level=1)).to_contain_text("core-one")
    jobs = page.locator("#machine-jobs")
    expect(jobs.get_by_role("link", name="enclosure-hinge")).to_be_visible()
    expect(page.locator("#machine-settings tr", has_text="API key")).to_contain_text("set, hidden")
    live = page.locator("#machine-live")
    expect(live.locator(".machine-status")).to_have_text("Printing")

    live.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("enclosure-hinge: pause requested")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("core-one")  # back on the machine's page
    expect(live.locator(".machine-status")).to_have_text("Paused")

    live.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("enclosure-hinge: resume requested")).to_be_visible()
    expect(live.locator(".machine-status")).to_have_text("Printing")
    expect(live.get_by_role("button", name="Pause")).to_be_visible()
    page.get_by_role("link", name="← Fleet").click()
    expect(cards).to_have_count(3)
