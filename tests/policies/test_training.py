"""Training gating: refused at submission when no machine that could print the job is one the owner is
trained for (naming the training and who gives it), never dispatched to such a machine, and an expired
training stops new dispatches but not a running print."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs.exceptions import JobValidationError
from jobs.models import Job
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from policies.services import training_create, training_require
from tests.jobs.dispatch_support import gcode, submit_job
from tests.pages.conftest import csrf_post
from tests.policies.conftest import api_for, browser_for, page, trained

pytestmark = pytest.mark.django_db

REFUSAL = (
    "needs the training 'FDM basics' (given by Dr. Byron, room 2.14), which you have not completed (or it "
    "has expired): every machine that could print this job requires it (mk4)"
)


def test_the_api_refuses_a_job_only_untrained_for_machines_could_print(farm, student, fdm):
    farm.add_machine("mk4")
    response = api_for(student).post(
        "/api/jobs/", {"file": SimpleUploadedFile("part.gcode", gcode())}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["reasons"] == [REFUSAL]
    assert Job.objects.count() == 0


def test_the_submit_page_names_the_training_and_who_gives_it(farm, student, fdm):
    farm.add_machine("mk4")
    data = {"machine_type": "printer-3d", "file": SimpleUploadedFile("part.gcode", gcode())}
    response = csrf_post(browser_for(student), "/jobs/submit/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert "The job was not accepted" in html
    assert "&#x27;FDM basics&#x27; (given by Dr. Byron, room 2.14)" in html


def test_a_trained_student_submits(farm, student, fdm):
    farm.add_machine("mk4")
    trained(student, fdm)
    assert submit_job(student, name="bracket").state == JobState.QUEUED


def test_an_expired_training_is_refused_like_a_missing_one(farm, student, fdm):
    farm.add_machine("mk4")
    today = timezone.localdate()
    trained(student, fdm, on=today - timedelta(days=400), expires=today - timedelta(days=1))
    with pytest.raises(JobValidationError) as refused:
        submit_job(student, name="bracket")
    assert refused.value.extra["reasons"] == [REFUSAL]


def test_a_job_another_machine_could_print_is_accepted_and_goes_there(farm, student):
    resin = training_create(name="Large format", given_by="workshop staff")
    big = farm.add_machine("big")
    small = farm.add_machine("small")
    training_require(training=resin, machine=big)
    farm.poll(big, small)
    job = submit_job(student, name="bracket")  # small needs no training
    [done] = schedule_run()
    assert done.pk == job.pk and done.machine_id == small.pk


def test_the_scheduler_never_dispatches_to_a_machine_the_owner_is_not_cleared_for(farm, student, staff, fdm):
    resin = training_create(name="Large format", given_by="workshop staff")
    big = farm.add_machine("big")
    training_require(training=resin, machine=big)
    trained(student, fdm)
    farm.poll(big)
    # Accepted: the student could print on "big" once trained (another machine could take it later)
    small = farm.add_machine("small")
    job = submit_job(student, name="bracket")
    assert schedule_run() == []  # small is not polled (not idle); big needs "Large format"
    waiting = "waiting: needs the training 'Large format' (given by workshop staff)"
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    # small is busy: only big could take it now, but the reason is given only when no machine could
    item = api_for(student).get("/api/jobs/queue/").json()["items"][0]
    assert item["waiting_reason"] == ""
    small.active = False
    small.save()
    item = api_for(student).get("/api/jobs/queue/").json()["items"][0]
    assert item["waiting_reason"] == waiting
    assert waiting in page(student, f"/jobs/{job.pk}/")
    assert waiting in page(student, "/jobs/")
    trained(student, resin)
    [done] = schedule_run()
    assert done.machine_id == big.pk


def test_expiry_stops_new_dispatches_never_a_running_print(farm, student, fdm):
    mk4 = farm.add_machine("mk4")
    mini = farm.add_machine("mini")
    farm.poll(mk4)
    today = timezone.localdate()
    record = trained(student, fdm, on=today - timedelta(days=30), expires=today + timedelta(days=1))
    first = submit_job(student, name="first")
    second = submit_job(student, name="second")
    [running] = schedule_run()
    assert running.pk == first.pk
    Job.objects.filter(pk=first.pk).update(state=JobState.PRINTING)
    farm.poll(mini)  # a second machine is free now
    # The training expires while the first job prints
    record.expires_on = today - timedelta(days=1)
    record.completed_on = today - timedelta(days=30)
    record.save()
    assert schedule_run() == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == JobState.PRINTING  # untouched
    assert second.state == JobState.QUEUED
    reason = api_for(student).get(f"/api/jobs/{second.pk}/").json()["waiting_reason"]
    assert reason == "waiting: needs the training 'FDM basics' (given by Dr. Byron, room 2.14)"


def test_the_student_reads_their_own_trainings(student, other_student, fdm):
    trained(student, fdm, on=date(2026, 1, 5))
    trained(other_student, fdm, on=date(2026, 2, 5))
    body = api_for(student).get("/api/policies/me/").json()
    assert [
        (t["training_name"], t["completed_on"], t["trainer_display"], t["valid"]) for t in body["trainings"]
    ] == [("FDM basics", "2026-01-05", "Dr. Byron", True)]
    records = api_for(student).get("/api/policies/records/").json()["results"]
    assert [r["username"] for r in records] == ["s1234567"]


def test_changing_a_job_to_machines_only_trained_people_use_is_refused(farm, student):
    large = training_create(name="Large format", given_by="workshop staff")
    big = farm.add_machine("big")
    farm.add_machine("small")
    training_require(training=large, machine=big)
    job = submit_job(student, name="bracket")
    response = api_for(student).patch(
        f"/api/jobs/{job.pk}/", {"target_machine": str(big.pk), "version": job.version}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["reasons"] == [
        "needs the training 'Large format' (given by workshop staff), which you have not completed (or it has "
        "expired): every machine that could print this job requires it (big)"
    ]


def test_partner_labs_accounts_hold_every_training_at_submission_and_dispatch(farm, student, fdm):
    """A partner lab trains its own students; its jobs arrive through the account staff approved, which
    federation puts in the training-exempt group."""
    from django.contrib.auth.models import Group
    from django.test import override_settings

    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    with override_settings(POLICIES_TRAINING_EXEMPT_GROUP="Partner labs"):
        student.groups.add(Group.objects.create(name="Partner labs"))
        job = submit_job(student, name="forwarded bracket")
        assert job.state == JobState.QUEUED
        [dispatched] = schedule_run()
    assert dispatched.pk == job.pk and dispatched.machine_id == mk4.pk
