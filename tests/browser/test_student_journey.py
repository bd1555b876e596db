"""A student logs in, drops a G-code file on the form, checks its pre-flight (picture, print time, earliest
start) and confirms it, then watches the job print on a simulated printer, in Chromium: waiting →
printing → finished on the same page, never reloaded (the live parts refresh). A batch of files is
checked file by file, and a refused or cancelled file never costs the others."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job, StagedUpload
from tests.browser.conftest import PASSWORD, SERIAL
from tests.jobs.dispatch_support import gcode
from tests.jobs.thumbnail_samples import with_thumbnail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def drop_files(page, selector: str, *paths) -> None:
    """Drag files from the desktop and drop them on ``selector``, as a person would."""
    files = page.evaluate_handle(
        """(items) => {
            const files = new DataTransfer();
            for (const [name, text] of items) {
                files.items.add(new File([text], name, {type: "text/x-gcode"}));
            }
            return files;
        }""",
        [[path.name, path.read_text()] for path in paths],
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
    part.write_bytes(with_thumbnail(gcode(seconds=PRINT_SECONDS)))

    page.goto("/jobs/")  # not logged in: the login page, then back here
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()

    page.get_by_role("link", name="Submit a job").first.click()
    expect(page.get_by_role("heading", name="Submit a print job")).to_be_visible()
    drop_files(page, "form[data-upload-progress]", part)
    expect(page.get_by_text("Chosen: bracket.gcode")).to_be_visible()
    page.get_by_label("Name").fill("wall bracket")
    page.get_by_role("button", name="Upload and check").click()

    # The pre-flight, before any job exists: picture, time, filament, machines, earliest start.
    preview = page.locator("article.preview-ok", has_text="wall bracket")
    expect(preview.get_by_text("Ready to confirm")).to_be_visible()
    expect(preview.get_by_role("img", name="Slicer preview of wall bracket")).to_be_visible()
    # The slicer's 16 x 16 picture, once the browser has loaded it (it comes after the row's HTML).
    expect(preview.get_by_role("img")).to_have_js_property("naturalWidth", 16)
    expect(preview.locator(".preview-time")).to_have_text("2 min")
    expect(preview.locator(".preview-machines")).to_contain_text("prusa-mk4")
    expect(preview.locator(".earliest-start")).to_contain_text(re.compile(r"on prusa-mk4 \(right away"))
    with SERIAL:
        assert Job.objects.count() == 0 and StagedUpload.objects.count() == 1
    preview.get_by_role("button", name="Confirm wall bracket").click()

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
    with SERIAL:
        assert StagedUpload.objects.count() == 0


def test_a_batch_is_checked_file_by_file_and_confirmed_at_once(page, farm, login, make_user, tmp_path):
    """Four files dropped at once: each gets its own row, the text file is refused on the spot, one
    good file is cancelled, "Confirm all" queues the other two as one batch."""
    with SERIAL:
        farm.add_machine("prusa-mk4")
    login(page.context, make_user("ada"))
    files = []
    for name in ("gear", "hinge", "spare"):
        path = tmp_path / f"{name}.gcode"
        path.write_bytes(gcode(seconds=600))
        files.append(path)
    notes = tmp_path / "notes.txt"
    notes.write_text("print these three")
    page.goto("/jobs/submit/")

    drop_files(page, "form[data-upload-progress]", *files, notes)
    expect(page.get_by_text("Chosen: gear.gcode, hinge.gcode, spare.gcode, notes.txt")).to_be_visible()
    page.get_by_role("button", name="Upload and check").click()

    rows = page.locator("#preview-rows article")
    expect(rows.filter(has_text="Ready to confirm")).to_have_count(3)
    refused = rows.filter(has_text="notes.txt")
    expect(refused.get_by_role("alert")).to_contain_text("'notes.txt' is not a G-code file")
    expect(page.locator("#preview-rows progress")).to_have_count(0)  # every upload finished
    gear, hinge = rows.filter(has_text="gear.gcode"), rows.filter(has_text="hinge.gcode")
    expect(hinge.locator(".earliest-start")).to_contain_text("on prusa-mk4")  # after gear, on the one printer
    expect(gear.locator(".earliest-start")).to_contain_text("right away")

    rows.filter(has_text="spare.gcode").get_by_role("button", name="Cancel spare.gcode").click()
    expect(rows.filter(has_text="spare.gcode")).to_have_count(0)
    refused.get_by_role("button", name="Dismiss").click()
    expect(rows).to_have_count(2)
    with SERIAL:
        assert sorted(StagedUpload.objects.values_list("original_name", flat=True)) == [
            "gear.gcode",
            "hinge.gcode",
        ]

    page.get_by_role("button", name="Confirm all 2 files").click()
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()
    expect(
        page.get_by_text("2 jobs were submitted and are in the queue: gear.gcode, hinge.gcode.")
    ).to_be_visible()
    waiting = page.locator("#jobs-waiting")
    expect(waiting).to_contain_text("gear.gcode")
    expect(waiting).to_contain_text("hinge.gcode")
    expect(waiting).not_to_contain_text("spare")
    with SERIAL:
        jobs = list(Job.objects.order_by("position"))
        assert [job.original_name for job in jobs] == ["gear.gcode", "hinge.gcode"]
        assert jobs[0].batch_id is not None and jobs[0].batch_id == jobs[1].batch_id
        assert StagedUpload.objects.count() == 0


def test_a_refused_file_shows_every_reason_on_the_form(page, farm, login, make_user, tmp_path):
    """The file chosen with the file input; the pre-flight refuses it and says why, nothing is queued."""
    with SERIAL:
        farm.add_machine("prusa-mini", volume=(180, 180, 180))
    login(page.context, make_user("ada"))
    too_big = tmp_path / "table-leg.gcode"
    too_big.write_bytes(gcode(seconds=60, size=(400.0, 40.0, 5.0)))
    page.goto("/jobs/submit/")

    page.get_by_label("G-code files").set_input_files(too_big)
    expect(page.get_by_text("Chosen: table-leg.gcode")).to_be_visible()
    page.get_by_role("button", name="Upload and check").click()

    row = page.locator("#preview-rows article", has_text="table-leg.gcode")
    expect(row).to_contain_text("Not accepted")
    expect(row.get_by_role("alert").locator(".reasons li").first).to_contain_text("prusa-mini")
    expect(row.locator(".preview-time")).to_have_text("1 min")  # what the file says is still shown
    expect(row.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/jobs/submit/$"))
    expect(page.get_by_role("button", name="Upload and check")).to_be_enabled()  # try another file
    page.goto("/jobs/")
    expect(page.locator("#jobs-waiting")).to_contain_text("No job is waiting.")
