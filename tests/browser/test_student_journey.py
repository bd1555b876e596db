"""A student logs in, drops a G-code file on the form and watches the job print on a simulated printer, in
Chromium: waiting → printing → finished on the same page, never reloaded (the live parts refresh)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, SERIAL
from tests.jobs.dispatch_support import gcode

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def drop_file(page, selector: str, path) -> None:
    """Drag a file from the desktop and drop it on ``selector``, as a person would."""
    files = page.evaluate_handle(
        """([name, text]) => {
            const files = new DataTransfer();
            files.items.add(new File([text], name, {type: "text/x-gcode"}));
            return files;
        }""",
        [path.name, path.read_text()],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": files})
    page.dispatch_event(selector, "drop", {"dataTransfer": files})


PRINT_SECONDS = 160  # simulated; about 8 s at the simulator's speed, so the page shows it printing


def test_a_student_submits_a_file_and_watches_it_print_without_reloading(
    page, farm, runtime, make_user, tmp_path
):
    make_user("ada")
    with SERIAL:
        printer = farm.add_machine("prusa-mk4")
        farm.poll(printer)
        runtime.tasks.drain()
    part = tmp_path / "bracket.gcode"
    part.write_bytes(gcode(seconds=PRINT_SECONDS))

    page.goto("/jobs/")  # not logged in: the login page, then back here
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()

    page.get_by_role("link", name="Submit a job").first.click()
    expect(page.get_by_role("heading", name="Submit a print job")).to_be_visible()
    drop_file(page, "form[data-upload-progress]", part)
    expect(page.get_by_text("Chosen: bracket.gcode")).to_be_visible()
    page.get_by_label("Name").fill("wall bracket")
    page.get_by_role("button", name="Upload and queue").click()

    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()
    expect(page.get_by_text("wall bracket was submitted and is in the queue.")).to_be_visible()
    waiting = page.locator("#jobs-waiting tr", has_text="wall bracket")
    expect(waiting.get_by_text("Queued")).to_be_visible()
    page.evaluate("window.samePage = true")  # gone if the page were ever reloaded

    runtime.start(printer)  # the scheduler sends it to the printer, the poller follows the print

    printing = page.locator("#jobs-active tr", has_text="wall bracket")
    expect(printing.get_by_text("Printing", exact=True)).to_be_visible()
    expect(printing.get_by_text("prusa-mk4")).to_be_visible()
    expect(page.locator("#jobs-waiting")).not_to_contain_text("wall bracket")

    finished = page.locator("#jobs-history tr", has_text="wall bracket")
    expect(finished.get_by_text("Completed")).to_be_visible(timeout=30_000)
    expect(page.locator("#jobs-active")).not_to_contain_text("wall bracket")
    assert page.evaluate("window.samePage") is True
    assert re.search(r"/jobs/(#job-[0-9a-f-]+)?$", page.url)


def test_a_refused_file_shows_every_reason_on_the_form(page, farm, login, make_user, tmp_path):
    """The file chosen with the file input; the pre-flight refuses it and says why, nothing is queued."""
    with SERIAL:
        farm.add_machine("prusa-mini", volume=(180, 180, 180))
    login(page.context, make_user("ada"))
    too_big = tmp_path / "table-leg.gcode"
    too_big.write_bytes(gcode(seconds=60, size=(400.0, 40.0, 5.0)))
    page.goto("/jobs/submit/")

    page.get_by_label("G-code file").set_input_files(too_big)
    expect(page.get_by_text("Chosen: table-leg.gcode")).to_be_visible()
    page.get_by_role("button", name="Upload and queue").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The job was not accepted")
    expect(alert.locator(".reasons li").first).to_contain_text("prusa-mini")
    expect(page).to_have_url(re.compile(r"/jobs/submit/$"))
    expect(page.get_by_role("button", name="Upload and queue")).to_be_enabled()  # try another file
    page.goto("/jobs/")
    expect(page.locator("#jobs-waiting")).to_contain_text("No job is waiting.")
