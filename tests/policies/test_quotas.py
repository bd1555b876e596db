"""Quotas: print hours and grams per week or term, for a user or each member of a group; checked at
submission (refused with what is left) and at dispatch (the job waits and says why); what is left is
shown to the student on their pages and in the API."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.exceptions import JobValidationError
from jobs.models import StagedUpload
from jobs.services.scheduler import schedule_run
from policies.models import Quota
from policies.services import quota_create
from tests.jobs.conftest import gcode as gcode_with_grams
from tests.jobs.dispatch_support import gcode, submit_job
from tests.pages.conftest import csrf_post
from tests.policies.conftest import api_for, browser_for, page, utc

pytestmark = pytest.mark.django_db


def test_submission_is_refused_with_what_is_left_this_week(farm, student, clock):
    farm.add_machine("mk4")
    quota_create(user=student, max_hours=1)
    submit_job(student, name="first", seconds=2700)  # 0.75 h
    with pytest.raises(JobValidationError) as refused:
        submit_job(student, name="second", seconds=2700)
    assert refused.value.extra["reasons"] == [
        "quota: the job needs 0.8 h of print time, 0.2 h of 1 h left this week (your quota)"
    ]
    # The API says the same with a 400
    response = api_for(student).post(
        "/api/jobs/", {"file": SimpleUploadedFile("third.gcode", gcode(seconds=2700))}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["reasons"] == [
        "quota: the job needs 0.8 h of print time, 0.2 h of 1 h left this week (your quota)"
    ]


def test_the_submit_page_shows_the_refusal_and_what_is_left(farm, student, clock):
    farm.add_machine("mk4")
    quota_create(user=student, max_grams=5)
    client = browser_for(student)
    data = {"machine_type": "printer-3d", "file": SimpleUploadedFile("a.gcode", gcode_with_grams())}
    assert csrf_post(client, "/jobs/submit/", data).status_code == 200  # 3.7 g accepted: a preview
    preview = StagedUpload.objects.get()
    assert csrf_post(client, "/jobs/submit/confirm/", {"preview": str(preview.pk)}).status_code == 303
    assert "1 g of 5 g left this week (your quota)" in page(student, "/jobs/submit/")
    data = {"machine_type": "printer-3d", "file": SimpleUploadedFile("b.gcode", gcode_with_grams())}
    response = csrf_post(client, "/jobs/submit/", data)
    assert response.status_code == 400
    assert (
        "quota: the job needs 4 g of filament, 1 g of 5 g left this week (your quota)"
        in response.content.decode()
    )


def test_a_group_quota_applies_to_each_member_and_a_users_own_replaces_it(
    farm, student, other_student, clock
):
    farm.add_machine("mk4")
    course = Group.objects.create(name="Course 101")
    student.groups.add(course)
    other_student.groups.add(course)
    quota_create(group=course, max_hours=1)
    submit_job(student, name="a", seconds=2700)
    submit_job(other_student, name="b", seconds=2700)  # each member has their own hour
    with pytest.raises(JobValidationError) as refused:
        submit_job(other_student, name="c", seconds=2700)
    assert refused.value.extra["reasons"] == [
        "quota: the job needs 0.8 h of print time, 0.2 h of 1 h left this week (group Course 101)"
    ]
    quota_create(user=other_student, max_hours=3)  # staff give one student more
    assert submit_job(other_student, name="c", seconds=2700).name == "c"


def test_a_term_quota_counts_from_the_terms_start(farm, student, clock):
    farm.add_machine("mk4")
    clock.set(utc(2026, 11, 2, 10, 0))
    quota_create(
        user=student,
        period=Quota.Period.TERM,
        term_start=date(2026, 10, 1),
        term_end=date(2027, 2, 28),
        max_hours=1,
    )
    submit_job(student, name="november", seconds=2700)
    clock.set(utc(2026, 12, 7, 10, 0))  # another week, same term
    with pytest.raises(JobValidationError) as refused:
        submit_job(student, name="december", seconds=2700)
    assert "0.2 h of 1 h left this term (your quota)" in refused.value.extra["reasons"][0]


def test_at_dispatch_a_job_beyond_the_quota_waits_and_says_why(farm, student, clock):
    mk4 = farm.add_machine("mk4")
    mini = farm.add_machine("mini")
    farm.poll(mk4, mini)
    quota = quota_create(user=student, max_hours=1)
    first = submit_job(student, name="first", seconds=1800)
    second = submit_job(student, name="second", seconds=1800)
    quota.max_hours = 0.75  # staff lower the quota after both were accepted
    quota.save()
    [done] = schedule_run()
    assert done.pk == first.pk
    reason = api_for(student).get(f"/api/jobs/{second.pk}/").json()["waiting_reason"]
    assert (
        reason
        == "waiting: quota: the job needs 0.5 h of print time, 0.2 h of 0.75 h left this week (your quota)"
    )
    assert reason in page(student, "/jobs/")


def test_the_student_sees_what_is_left(farm, student, clock):
    farm.add_machine("mk4")
    quota_create(user=student, max_hours=10, max_grams=500)
    submit_job(student, name="part", seconds=5400)
    assert "8.5 h of 10 h and 500 g of 500 g left this week (your quota)" in page(student, "/jobs/")
    [quota] = api_for(student).get("/api/policies/me/").json()["quotas"]
    assert (quota["period"], quota["hours_left"], quota["grams_left"], quota["used_hours"]) == (
        "week",
        8.5,
        500.0,
        1.5,
    )
    assert quota["starts"] == "2026-12-07T00:00:00Z"  # Monday 00:00 in the lab's zone (UTC here)
