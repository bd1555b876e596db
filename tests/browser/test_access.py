"""A student cannot open another student's job: the lab's 404 page, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SERIAL
from tests.jobs.conftest import make_machine, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_student_sees_the_not_found_page_for_another_students_job(page, login, make_user):
    from jobs.services import JobSpec, job_submit

    owner, other = make_user("ada"), make_user("ben")
    with SERIAL:
        make_machine()
        job = job_submit(user=owner, spec=JobSpec(file=upload(), name="ada-bracket"))
    login(page.context, other)

    response = page.goto(f"/jobs/{job.pk}/")

    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("There is nothing here")
    expect(page.get_by_text("ada-bracket")).to_have_count(0)
    page.goto("/jobs/")
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()
    expect(page.get_by_text("ada-bracket")).to_have_count(0)
