"""django-axes: repeated failed logins lock the username and the address, on every login form."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def student():
    return get_user_model().objects.create_user("student", password=PASSWORD)


def attempt(username: str, password: str, *, ip: str = "192.0.2.1", url: str = LOGIN):
    return Client(REMOTE_ADDR=ip).post(url, {"username": username, "password": password})


def fail(times: int, username: str = "student", *, ip: str = "192.0.2.1", url: str = LOGIN) -> None:
    """Fail ``times`` times; the fifth failure is answered with the lockout itself."""
    for number in range(1, times + 1):
        status = attempt(username, "wrong", ip=ip, url=url).status_code
        assert status == (429 if number == 5 else 200)  # before that, the form with its error


def test_five_failures_lock_the_username_with_a_clear_message(student, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    fail(4)
    assert attempt("student", PASSWORD).status_code == 302  # a success resets the count
    fail(5)
    locked = attempt("student", PASSWORD)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins" in page and "ask lab staff" in page
    # Locked by username from another address too, and by address for another username.
    assert attempt("student", PASSWORD, ip="198.51.100.7").status_code == 429
    get_user_model().objects.create_user("other", password=PASSWORD)
    assert attempt("other", PASSWORD).status_code == 429
    assert attempt("other", PASSWORD, ip="198.51.100.7").status_code == 302


def test_the_admin_logs_in_through_the_same_locked_form(student):
    assert Client().get("/admin/login/")["Location"].startswith(LOGIN)
    fail(5)
    assert attempt("student", PASSWORD, url=LOGIN + "?next=/admin/").status_code == 429


def test_staff_unlock_in_the_admin(student):
    fail(5)
    assert attempt("student", PASSWORD).status_code == 429
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("boss", password="pw-boss-1234!"))
    assert staff.get("/admin/axes/accessattempt/").status_code == 200
    ids = list(AccessAttempt.objects.values_list("pk", flat=True))
    response = staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert attempt("student", PASSWORD).status_code == 302
