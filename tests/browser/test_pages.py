"""Every main page in Chromium: a screenshot in light and dark at phone and desktop width (into
var/test-artifacts/screenshots/, for people to look at), and an accessibility check with axe-core
(vendored, tests/browser/vendor/) that finds no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from jobs.models import Job
from jobs.services import JobSpec
from jobs.services.staging import staged_uploads_create
from jobs.states import JobState
from tests.browser.conftest import DESKTOP, PHONE, SERIAL, watch
from tests.jobs.dispatch_support import gcode, submit_job
from tests.jobs.thumbnail_samples import with_thumbnail
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SIZES = {"phone": PHONE, "desktop": DESKTOP}
SCHEMES = ("light", "dark")


@pytest.fixture
def lab(farm, runtime, make_user, settings):
    """A small lab: a printer printing a student's job, one idle, one unreachable; jobs waiting."""
    settings.MACHINES_TEMPERATURE_SAMPLE_SECONDS = 0  # each poll a point of the machine page's chart
    student, staff = make_user("ada"), make_user("tech", staff=True)
    with SERIAL:
        busy = farm.add_machine("prusa-mk4-01", tags="open")
        idle = farm.add_machine("prusa-mk4-02", tags="open")
        gone = farm.add_machine("core-one-01", tags="enclosed")
        farm.poll(busy, idle, gone)
        runtime.tasks.drain()
        farm.fault(gone, offline=True)
        farm.fault(idle, offline=True)  # keeps the waiting jobs waiting; back online below
        farm.poll(gone, idle)
        printing = submit_job(student, name="gear housing", seconds=3600, constraints=on(busy))
        runtime.configs = [busy, idle, gone]
        wait_until(
            lambda: (runtime.step(), Job.objects.get(pk=printing.pk).state == JobState.PRINTING)[1],
            timeout=30,
            message="the first job to print",
        )
        for _ in range(20):  # the printer heats up: the chart has a curve
            runtime.step()
        waiting = [submit_job(student, name=name, seconds=900) for name in ("phone stand", "cable clip")]
        # Two files checked on the submit page, waiting for "Confirm" (its screenshot shows them).
        staged_uploads_create(
            user=student,
            specs=[
                JobSpec(file=SimpleUploadedFile(f"{name}.gcode", with_thumbnail(gcode(seconds=seconds))))
                for name, seconds in (("lamp shade", 5400), ("hinge pin", 1200))
            ],
        )
        farm.clear_faults(idle)
        farm.poll(idle)
    return {"student": student, "staff": staff, "printing": printing, "waiting": waiting, "busy": busy}


def on(machine):
    from jobs.preflight import JobConstraints

    return JobConstraints(target_machine_id=machine.pk)


def pages(lab) -> list[tuple[str, str, object, str]]:
    """(name, path, user, heading) of each main page."""
    job = lab["printing"]
    return [
        ("login", "/accounts/login/", None, "Lab MES"),
        ("fleet", "/fleet/", lab["staff"], "Fleet"),
        ("wall", "/fleet/?wall=1", lab["staff"], "Fleet"),
        ("fleet-table", "/fleet/?view=table", lab["staff"], "Fleet"),
        ("printers", "/fleet/", lab["student"], "Printers"),
        ("jobs", "/jobs/", lab["student"], "My jobs"),
        ("all-jobs", "/jobs/", lab["staff"], "All jobs"),
        ("submit", "/jobs/submit/", lab["student"], "Submit a print job"),
        ("job", f"/jobs/{job.pk}/", lab["student"], job.name),
        ("machine", f"/machines/{lab['busy'].pk}/", lab["staff"], "prusa-mk4-01"),
        ("board", "/board/", None, "print queue"),  # the hallway screen: public, no login
    ]


def test_screenshots_of_every_main_page(new_context, login, lab, screenshots, page_errors):
    taken, too_wide = [], []  # pages wider than the screen scroll sideways: wide tables scroll in place
    for name, path, user, heading in pages(lab):
        context = new_context()
        if user is not None:
            login(context, user)
        page = watch(context.new_page(), page_errors)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            for size_name, size in SIZES.items():
                page.set_viewport_size(size)
                page.goto(path)
                expect(page.get_by_role("heading", level=1).first).to_contain_text(heading)
                target = screenshots / f"{name}-{size_name}-{scheme}.png"
                page.screenshot(path=target, full_page=True)
                taken.append(target)
                if size_name == "desktop":  # what fits the screen, for docs/pages.md
                    page.screenshot(path=screenshots / f"{name}-{size_name}-{scheme}-screen.png")
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > size["width"]:
                    too_wide.append(f"{target.name}: {width} px")
        context.close()
    assert all(path.stat().st_size > 0 for path in taken)
    assert not too_wide, too_wide
    assert not page_errors, page_errors


def test_no_serious_accessibility_violations_on_the_main_pages(new_context, login, lab, page_errors):
    """axe-core on each page, light and dark; the context bypasses the pages' CSP to inject it."""

    found = {}
    for name, path, user, heading in pages(lab):
        context = new_context(bypass_csp=True)
        if user is not None:
            login(context, user)
        page = watch(context.new_page(), page_errors)
        page.goto(path)
        expect(page.get_by_role("heading", level=1).first).to_contain_text(heading)
        page.add_script_tag(path=AXE)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            result = page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            )
            for violation in result:
                if violation["impact"] in ("serious", "critical"):
                    targets = [" ".join(node["target"]) for node in violation["nodes"]][:5]
                    found[f"{name} ({scheme}): {violation['id']}"] = f"{violation['help']}: {targets}"
        context.close()
    assert not found, "\n".join(f"{key}: {value}" for key, value in found.items())
