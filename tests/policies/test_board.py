"""The public ETA board: no login, large type, live; first names or an anonymous tag only; estimated
start and finish from the queue forecast (opening hours included)."""

from __future__ import annotations

import html

import pytest
from django.test import Client, override_settings

from policies.services import quota_create
from tests.jobs.dispatch_support import submit_job
from tests.policies.conftest import utc, weekday_hours

pytestmark = pytest.mark.django_db


def board(path="/board/") -> str:
    response = Client().get(path)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_board_is_public_and_shows_no_private_data(
    farm, student, other_student, clock, django_user_model
):
    farm.add_machine("mk4")
    anonymous = django_user_model.objects.create_user("s0000001", email="s0000001@uni.example")
    student.email = "ada@uni.example"
    student.save()
    submit_job(student, name="Lovelace thesis bracket")
    submit_job(anonymous, name="secret-gift")
    quota_create(user=other_student, max_hours=0.01)
    page = board()
    assert 'data-live-url="/board/live/"' in page and "jobs/board.css" in page
    assert "Ada" in page and "Student " in page  # first name, or an anonymous tag
    for private in (
        "s1234567",
        "Lovelace",
        "thesis",
        "bracket",
        "ada@uni",
        "s0000001",
        "secret-gift",
        ".gcode",
    ):
        assert private not in page, private
    fragment = board("/board/live/")
    assert "<html" not in fragment and "Ada" in fragment and "Lovelace" not in fragment


@override_settings(TIME_ZONE="Europe/Berlin")
def test_the_board_shows_when_jobs_start_and_finish(farm, student, other_student, clock):
    weekday_hours()  # Mon-Fri 09:00-17:00
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    clock.set(utc(2026, 12, 7, 13, 0))  # Monday 14:00
    submit_job(student, name="a", seconds=3600)  # 14:00-15:00
    submit_job(student, name="b", seconds=3 * 3600)  # would end after closing: Tuesday 09:00-12:00
    submit_job(other_student, name="c", seconds=1800)  # owners take turns: after a, 15:00-15:30
    page = board()
    rows = [line for line in page.splitlines() if "board-start" in line]
    assert [r.split(">")[1].split("<")[0] for r in rows] == ["Mon 14:00", "Mon 15:00", "Tue 09:00"]
    assert "Ada" in page and "Grace" in page
