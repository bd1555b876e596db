"""The staff dashboard (/dashboard/): its figures against seeded jobs, the CSV of each table, who may see
it, a constant number of queries, and the date range form."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import dashboard as reads
from jobs.models import Job, JobEvent
from jobs.states import JobState
from machines.models import MachineConfig
from maintenance.models import MachineUsage

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 10)  # a fixed past day: the tests ask for ranges around it


def at(day: dt.date, hour: float) -> dt.datetime:
    zone = timezone.get_current_timezone()
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), zone) + dt.timedelta(hours=hour)


def past_job(
    owner,
    machine,
    *,
    state=JobState.COMPLETED,
    start: dt.datetime,
    hours: float,
    reason: str = "",
    waited: dt.timedelta | None = None,
    grams: float | None = None,
) -> Job:
    """An ended job with its queue events (queued, then dispatching ``waited`` later) and its usage."""
    job_id = uuid.uuid4()
    finish = start + dt.timedelta(hours=hours)
    job = Job.objects.create(
        id=job_id,
        owner=owner,
        name=f"part {str(job_id)[:4]}",
        printer_file_name=f"{job_id}.gcode",
        state=state,
        state_reason=reason,
        machine=machine,
        started_at=start,
        finished_at=finish,
    )
    if waited is not None:
        dispatched = start - dt.timedelta(seconds=30)
        for to_state, when in ((JobState.QUEUED, dispatched - waited), (JobState.DISPATCHING, dispatched)):
            event = JobEvent.objects.create(
                job=job, kind="transition", to_state=to_state, actor_kind="scheduler"
            )
            JobEvent.objects.filter(pk=event.pk).update(created_at=when)  # created_at is auto_now_add
    if grams is not None:
        MachineUsage.objects.create(
            job_id=job_id,
            machine=machine,
            print_seconds=int(hours * 3600),
            filament_grams=Decimal(str(grams)),
            failed=state == JobState.FAILED,
        )
    return job


@pytest.fixture
def lab(staff, student, other_student):
    """Two printers; on DAY: 3 jobs finished and 1 failed on mk4-a, one job on mk4-b the day before."""
    a = MachineConfig.objects.create(name="mk4-a", machine_type="printer-3d", driver="simulator")
    b = MachineConfig.objects.create(name="mk4-b", machine_type="printer-3d", driver="simulator")
    makers = Group.objects.create(name="makers")
    student.groups.add(makers)
    minute = dt.timedelta(minutes=1)
    past_job(student, a, start=at(DAY, 1), hours=2, waited=10 * minute, grams=12.5)
    past_job(student, a, start=at(DAY, 4), hours=3, waited=20 * minute, grams=20)
    past_job(other_student, a, start=at(DAY, 8), hours=1, waited=30 * minute, grams=7.5)
    failed = {"state": JobState.FAILED, "reason": "Nozzle clogged"}
    past_job(student, a, start=at(DAY, 10), hours=0.5, waited=40 * minute, grams=2, **failed)
    past_job(
        other_student, b, start=at(DAY - dt.timedelta(days=1), 12), hours=6, waited=50 * minute, grams=30
    )
    return {"a": a, "b": b, "student": student, "other": other_student, "staff": staff}


def url(start: dt.date, end: dt.date, **extra) -> str:
    query = "&".join(
        [f"from={start.isoformat()}", f"to={end.isoformat()}", *(f"{k}={v}" for k, v in extra.items())]
    )
    return f"/dashboard/?{query}"


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


# -- figures -------------------------------------------------------------------------------------------
def test_the_selectors_count_what_was_seeded(lab):
    day_range = reads.DayRange(start=DAY - dt.timedelta(days=1), end=DAY)
    page = reads.dashboard(day_range)
    outcomes = {day.day: (day.completed, day.failed) for day in page.outcomes}
    assert outcomes == {DAY - dt.timedelta(days=1): (1, 0), DAY: (3, 1)}
    machines = {row.name: row.hours for row in page.machines}
    assert machines == {"mk4-a": [0.0, 6.5], "mk4-b": [6.0, 0.0]}
    assert page.reasons == [("Nozzle clogged", 1)]
    # Waits 10, 20, 30, 40, 50 min: p50 30 min, p90 46 min (linear interpolation).
    assert page.waits.count == 5
    assert page.waits.p50_seconds == pytest.approx(30 * 60)
    assert page.waits.p90_seconds == pytest.approx(46 * 60)
    users = {row.name: (row.jobs, round(row.hours, 2), row.grams) for row in page.by_user}
    assert users == {"student": (3, 5.5, 34.5), "other": (2, 7.0, 37.5)}
    groups = {row.name: (row.jobs, round(row.hours, 2), row.grams) for row in page.by_group}
    assert groups == {"makers": (3, 5.5, 34.5), reads.NO_GROUP: (2, 7.0, 37.5)}


def test_the_page_shows_the_figures(lab, login):
    response = login(lab["staff"]).get(url(DAY - dt.timedelta(days=1), DAY))
    assert response.status_code == 200
    html = response.content.decode()
    # mk4-a printed 6.5 h on DAY: 27 % of the day, as text in its cell (not colour alone).
    assert f'title="{DAY:%a %-d %b}: 6.5 h printing (27 %)" data-day="{DAY.isoformat()}">27</td>' in html
    assert (
        f'<tr data-day="{DAY.isoformat()}"><td>{DAY:%a %-d %b}</td><td class="completed">3</td><td class="failed">1</td></tr>'
        in html
    )
    assert f"<title>{DAY:%a %-d %b}: 3 finished</title>" in html
    assert f"<title>{DAY:%a %-d %b}: 1 failed</title>" in html
    assert '<td>Nozzle clogged</td><td class="count">1</td>' in html
    assert '<dd class="wait-p50">30 min 00 s</dd>' in html
    assert '<dd class="wait-p90">46 min 00 s</dd>' in html
    assert (
        '<tr data-name="makers"><td>makers</td><td class="jobs">3</td><td class="hours">5.5</td><td class="grams">35</td></tr>'
        in html
    )
    assert 'role="img" aria-labelledby="outcomes-title outcomes-desc"' in html


def test_the_default_range_is_the_last_14_days(lab, login):
    response = login(lab["staff"]).get("/dashboard/")
    assert response.status_code == 200
    today = timezone.localdate()
    assert response.context["range"] == reads.DayRange(start=today - dt.timedelta(days=13), end=today)
    assert len(response.context["days"]) == 14
    assert response.context["form"]["from"].value() == today - dt.timedelta(days=13)


def test_a_print_counts_on_the_day_it_started_and_a_day_caps_at_100_percent(lab):
    past_job(lab["student"], lab["b"], start=at(DAY, 2), hours=30)
    row = next(r for r in reads.utilisation(reads.DayRange(start=DAY, end=DAY)) if r.name == "mk4-b")
    assert row.hours == [30.0]
    from jobs.dashboard_views import heat_cells

    (cell,) = heat_cells(row, [DAY])
    assert (cell.percent, cell.level) == (100, 5)


# -- CSV -----------------------------------------------------------------------------------------------
def test_csv_of_each_table(lab, login):
    client = login(lab["staff"])
    start, end = DAY - dt.timedelta(days=1), DAY
    response = client.get(url(start, end, format="csv", table="outcomes"))
    assert f"dashboard-outcomes-{start.isoformat()}-{end.isoformat()}.csv" in response["Content-Disposition"]
    assert csv_rows(response) == [
        ["day", "finished", "failed"],
        [start.isoformat(), "1", "0"],
        [end.isoformat(), "3", "1"],
    ]
    assert csv_rows(client.get(url(start, end, format="csv", table="utilisation"))) == [
        ["machine", "day", "print_hours", "utilisation_percent"],
        ["mk4-a", start.isoformat(), "0.00", "0"],
        ["mk4-a", end.isoformat(), "6.50", "27"],
        ["mk4-b", start.isoformat(), "6.00", "25"],
        ["mk4-b", end.isoformat(), "0.00", "0"],
    ]
    assert csv_rows(client.get(url(start, end, format="csv", table="reasons"))) == [
        ["reason", "failed_jobs"],
        ["Nozzle clogged", "1"],
    ]
    assert csv_rows(client.get(url(start, end, format="csv", table="waits"))) == [
        ["dispatches", "p50_seconds", "p90_seconds"],
        ["5", "1800", "2760"],
    ]
    assert csv_rows(client.get(url(start, end, format="csv", table="users"))) == [
        ["user", "jobs", "print_hours", "grams"],
        ["other", "2", "7.00", "37.50"],
        ["student", "3", "5.50", "34.50"],
    ]
    assert csv_rows(client.get(url(start, end, format="csv", table="groups"))) == [
        ["group", "jobs", "print_hours", "grams"],
        [reads.NO_GROUP, "2", "7.00", "37.50"],
        ["makers", "3", "5.50", "34.50"],
    ]


def test_csv_of_an_unknown_table_or_a_bad_range_is_a_400(lab, login):
    client = login(lab["staff"])
    response = client.get(url(DAY, DAY, format="csv", table="secrets"))
    assert response.status_code == 400 and b"Unknown table" in response.content
    response = client.get(url(DAY, DAY - dt.timedelta(days=1), format="csv", table="outcomes"))
    assert response.status_code == 400 and b"Bad range" in response.content


# -- who may see it ------------------------------------------------------------------------------------
def test_students_are_refused_with_the_error_page(lab, login):
    response = login(lab["student"]).get("/dashboard/")
    assert response.status_code == 403
    assert "403.html" in [t.name for t in response.templates]
    assert login(lab["student"]).get(url(DAY, DAY, format="csv", table="users")).status_code == 403


def test_anonymous_users_go_to_the_login_page(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_staff_navigation_links_the_dashboard(lab, login):
    assert b'href="/dashboard/">Dashboard</a>' in login(lab["staff"]).get("/jobs/").content
    assert b'href="/dashboard/"' not in login(lab["student"]).get("/jobs/").content


# -- queries -------------------------------------------------------------------------------------------
def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_for_10_or_100_jobs(lab, login):
    client = login(lab["staff"])
    path = url(DAY - dt.timedelta(days=13), DAY)
    users = [get_user_model().objects.create_user(f"u{n}") for n in range(5)]
    machines = [
        MachineConfig.objects.create(name=f"p{n}", machine_type="printer-3d", driver="x") for n in range(3)
    ]

    def seed(count: int) -> None:
        for n in range(count):
            past_job(
                users[n % 5],
                machines[n % 3],
                state=JobState.FAILED if n % 4 == 0 else JobState.COMPLETED,
                start=at(DAY - dt.timedelta(days=n % 14), n % 20),
                hours=1,
                reason=f"reason {n % 3}",
                waited=dt.timedelta(minutes=n),
                grams=5,
            )

    seed(10)
    few = _queries(client, path)
    seed(90)
    many = _queries(client, path)
    assert few == many, (few, many)
    assert 7 <= many <= 12, many  # session and user, then the dashboard's seven reads


# -- the range -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-03-10&to=2026-03-01", "“From” must be on or before “To”."),
        ("from=yesterday&to=2026-03-01", "Enter a valid date."),
        ("from=2024-01-01&to=2026-03-01", "Choose at most 366 days"),
    ],
)
def test_a_bad_range_is_a_form_error_not_a_500(lab, login, query, message):
    response = login(lab["staff"]).get(f"/dashboard/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="errors dashboard-errors"' in html and message in html
    assert "dashboard-utilisation" not in html  # no figures for a range that is not one


def test_one_end_of_the_range_is_enough(lab, login):
    client = login(lab["staff"])
    response = client.get(f"/dashboard/?from={DAY.isoformat()}")
    assert response.context["range"] == reads.DayRange(start=DAY, end=DAY + dt.timedelta(days=13))
    response = client.get(f"/dashboard/?to={DAY.isoformat()}")
    assert response.context["range"] == reads.DayRange(start=DAY - dt.timedelta(days=13), end=DAY)


def test_a_job_sent_back_to_the_queue_waits_again_from_its_new_queued_event(lab):
    job = past_job(lab["student"], lab["b"], start=at(DAY, 20), hours=1)
    timeline = [
        (JobState.QUEUED, at(DAY, 18)),
        (JobState.DISPATCHING, at(DAY, 18.5)),  # waited 30 min
        (JobState.QUEUED, at(DAY, 18.6)),  # the printer was busy: back to the queue
        (JobState.DISPATCHING, at(DAY, 19.6)),  # waited 60 min
    ]
    for to_state, when in timeline:
        event = JobEvent.objects.create(job=job, kind="transition", to_state=to_state, actor_kind="scheduler")
        JobEvent.objects.filter(pk=event.pk).update(created_at=when)
    JobEvent.objects.exclude(job=job).delete()
    waits = reads.queue_waits(reads.DayRange(start=DAY, end=DAY))
    assert waits.count == 2
    assert waits.p50_seconds == pytest.approx(45 * 60)
    assert waits.p90_seconds == pytest.approx(57 * 60)


@pytest.mark.parametrize(
    ("hours", "percent", "level"),
    [(0, 0, 0), (0.1, 0, 0), (0.25, 1, 1), (4.7, 20, 2), (4.55, 19, 1), (19.2, 80, 5), (24, 100, 5)],
)
def test_a_cell_colour_follows_the_number_it_shows(hours, percent, level):
    from jobs.dashboard_views import heat_cells

    row = reads.MachineRow(machine_id=1, name="m", hours=[hours])
    (cell,) = heat_cells(row, [DAY])
    assert (cell.percent, cell.level) == (percent, level)
