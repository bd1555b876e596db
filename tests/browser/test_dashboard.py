"""The staff dashboard in Chromium: its charts render (SVG with titles, the heat map with its numbers),
the range form keeps its dates in the URL, and axe-core finds no serious or critical violation, light
and dark. Screenshots (desktop and phone, light and dark) go to var/test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job, JobEvent
from jobs.states import JobState
from machines.models import MachineConfig
from maintenance.models import MachineUsage
from tests.browser.conftest import DESKTOP, PHONE, SERIAL, watch
from tests.browser.test_pages import AXE, SCHEMES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASONS = ["Nozzle clogged", "First layer did not stick", "Filament ran out"]


def seed_history(owners, machines, *, days: int = 14) -> None:
    """A fortnight of ended jobs on each machine, some failed, each with its queue events and usage."""
    now = timezone.now()
    for day in range(days):
        for index, machine in enumerate(machines):
            for n in range((day + index) % 4):
                job_id = uuid.uuid4()
                start = now - dt.timedelta(days=day, hours=2 + 7 * n + index)
                failed = (day + n + index) % 5 == 0
                job = Job.objects.create(
                    id=job_id,
                    owner=owners[(day + n) % len(owners)],
                    name=f"part {day}-{n}",
                    printer_file_name=f"{job_id}.gcode",
                    state=JobState.FAILED if failed else JobState.COMPLETED,
                    state_reason=REASONS[(day + n) % 3] if failed else "",
                    machine=machine,
                    started_at=start,
                    finished_at=start + dt.timedelta(hours=1 + (3 * day + n + index) % 6),
                )
                for to_state, at in (
                    (JobState.QUEUED, start - dt.timedelta(minutes=5 + 7 * n + day)),
                    (JobState.DISPATCHING, start - dt.timedelta(seconds=20)),
                ):
                    event = JobEvent.objects.create(
                        job=job, kind="transition", to_state=to_state, actor_kind="scheduler"
                    )
                    JobEvent.objects.filter(pk=event.pk).update(created_at=at)
                hours = (job.finished_at - start).total_seconds() / 3600
                MachineUsage.objects.create(
                    job_id=job_id,
                    machine=machine,
                    print_seconds=int(hours * 3600),
                    filament_grams=Decimal(str(round(hours * 11.5, 2))),
                    failed=failed,
                )


@pytest.fixture
def history(make_user):
    staff, students = make_user("tech", staff=True), [make_user(n) for n in ("ada", "grace", "linus")]
    with SERIAL:
        design = Group.objects.create(name="Design 101")
        for student in students[:2]:
            student.groups.add(design)
        machines = [
            MachineConfig.objects.create(name=name, machine_type="printer-3d", driver="simulator")
            for name in ("core-one-01", "prusa-mk4-01", "prusa-mk4-02", "prusa-xl-01")
        ]
        seed_history(students, machines)
    return {"staff": staff, "students": students}


def test_the_dashboard_renders_its_charts_accessibly(new_context, login, history, screenshots, page_errors):
    context = new_context(bypass_csp=True)  # axe is injected; the page's own CSP is checked below
    login(context, history["staff"])
    page = watch(context.new_page(), page_errors)
    response = page.goto("/dashboard/")
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")

    chart = page.locator("#dashboard-outcomes svg[role=img]")
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text("Jobs finished and failed per day")
    assert chart.locator("rect.bar").count() == 2 * 14  # finished and failed for each day
    titles = chart.locator("rect.bar > title").all_text_contents()
    assert any(title.endswith("finished") for title in titles) and any(t.endswith("failed") for t in titles)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80  # drawn, not collapsed

    heat = page.locator("table.heatmap")
    expect(heat.locator("tbody tr")).to_have_count(4)
    assert heat.locator("tbody td[class^=heat-]").count() == 4 * 14
    assert all(text.strip().isdigit() for text in heat.locator("tbody td[class^=heat-]").all_text_contents())
    expect(page.locator("#dashboard-waits .wait-p50")).not_to_have_text("—")
    expect(page.locator("#dashboard-reasons tbody tr").first).to_be_visible()

    # A range from the form lands in the URL.
    today = timezone.localdate()
    week_ago = (today - dt.timedelta(days=6)).isoformat()
    page.get_by_label("From", exact=True).fill(week_ago)
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"/dashboard/\?from={week_ago}&to={today.isoformat()}$"))
    assert chart.locator("rect.bar").count() == 2 * 7

    page.add_script_tag(path=AXE)
    found = {}
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        for violation in violations:
            if violation["impact"] in ("serious", "critical"):
                targets = [" ".join(node["target"]) for node in violation["nodes"]][:5]
                found[f"{scheme}: {violation['id']}"] = f"{violation['help']}: {targets}"
    assert not found, "\n".join(f"{key}: {value}" for key, value in found.items())

    page.goto("/dashboard/")
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        for size_name, size in {"desktop": DESKTOP, "phone": PHONE}.items():
            page.set_viewport_size(size)
            page.screenshot(path=screenshots / f"dashboard-{size_name}-{scheme}.png", full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"{size_name} {scheme}: the page is {width} px wide"
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "dashboard-desktop-light-screen.png")
    assert not page_errors, page_errors
