"""Users, trainings, opening hours and a simulated farm for the policies tests."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from policies.services import opening_hours_add, training_create, training_record_create, training_require
from tests.jobs.dispatch_support import farm, jobs_simulator, tasks  # noqa: F401 - fixtures


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("tech", first_name="Tess", is_staff=True)


@pytest.fixture
def student(db):
    return get_user_model().objects.create_user("s1234567", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def other_student(db):
    return get_user_model().objects.create_user("s7654321", first_name="Grace", last_name="Hopper")


@pytest.fixture
def fdm(db):
    """ "FDM basics", required on every 3D printer."""
    training = training_create(name="FDM basics", given_by="Dr. Byron, room 2.14")
    training_require(training=training, machine_type="printer-3d")
    return training


def trained(user, training, *, on=date(2026, 1, 5), expires=None):
    return training_record_create(
        user=user, training=training, completed_on=on, expires_on=expires, trainer_name="Dr. Byron"
    )


def weekday_hours(opens=time(9, 0), closes=time(17, 0), days=range(5)) -> None:
    for day in days:
        opening_hours_add(weekday=day, opens=opens, closes=closes)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(user, path: str) -> str:
    """The page as its reader sees the text (entities decoded)."""
    response = browser_for(user).get(path)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


@pytest.fixture
def clock(monkeypatch):
    """A frozen, settable clock: ``clock.set(datetime)``; everything that asks ``timezone.now()`` sees it."""
    from django.utils import timezone

    class Clock:
        now = utc(2026, 12, 7, 10, 0)

        def set(self, value: datetime) -> None:
            self.now = value

    fixed = Clock()
    monkeypatch.setattr(timezone, "now", lambda: fixed.now)
    return fixed
