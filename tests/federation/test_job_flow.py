"""A forwarded job on lab B: accepted into the real queue, its state changes become signed events,
a cancel from lab A reaches the job, stopping with on_stop=cancel cancels it, stats add up."""

from __future__ import annotations

import uuid

import pytest

from federation.models import FederationEvent, IncomingJob, Partner
from federation.services.connections import partner_stop
from federation.services.jobs import incoming_job_accept
from jobs.models import Job
from jobs.services import job_transition
from jobs.states import ActorKind, JobState
from tests.federation.test_partner_api import machine, put_job
from tests.federation.test_security import job_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def printer():
    # Comma-separated: jobs.selectors does not read the JSON list form yet (reported).
    return machine("Prusa-1", LOADED_MATERIALS="PLA", NOZZLE_DIAMETER="0.4")


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (job signals) as a real request would."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


def forward(client, lab, **body) -> IncomingJob:
    job_id = uuid.uuid4()
    response = put_job(client, lab, job_id, job_body(**body))
    assert response.status_code == 202, response.content
    return IncomingJob.objects.get(origin_job_id=job_id)


def events(incoming: IncomingJob) -> list[tuple[str, int]]:
    return list(
        FederationEvent.objects.filter(job_ref=str(incoming.origin_job_id))
        .order_by("sequence")
        .values_list("type", "sequence")
    )


def run_to(job: Job, *states: str) -> Job:
    for state in states:
        job = job_transition(job=job, to_state=state, actor_kind=ActorKind.SCHEDULER)
    return job


def test_accepted_job_joins_the_queue_owned_by_the_partner_and_reports_each_state(
    client, remote_lab, printer, on_commit
):
    from tests.federation.conftest import make_partner

    partner = make_partner(remote_lab, granted=["jobs:submit", "stats:read"])
    incoming = forward(client, remote_lab)
    with on_commit():
        incoming = incoming_job_accept(incoming=incoming)
    assert incoming.state == IncomingJob.State.ACCEPTED
    job = Job.objects.get(pk=incoming.local_job_id)
    assert job.owner == partner.user
    assert job.state == JobState.QUEUED
    assert job.sha256 == incoming.sha256
    with on_commit():
        job = run_to(job, JobState.DISPATCHING, JobState.PRINTING)
    with on_commit():
        run_to(job, JobState.COMPLETED)
    assert events(incoming) == [("accepted", 1), ("queued", 2), ("printing", 3), ("completed", 4)]
    incoming.refresh_from_db()
    assert incoming.state == IncomingJob.State.COMPLETED

    stats = remote_lab.call(client, "GET", "/api/federation/v1/stats/").json()
    assert stats["submitted"] == 1 and stats["completed"] == 1
    assert stats["success_rate"] == 1.0


def test_auto_accept_and_a_cancel_from_the_partner(client, remote_lab, printer, on_commit):
    from tests.federation.conftest import make_partner

    make_partner(remote_lab, granted=["jobs:submit", "jobs:read"], auto_accept=True)
    with on_commit():
        incoming = forward(client, remote_lab)
    incoming.refresh_from_db()
    assert incoming.state == IncomingJob.State.ACCEPTED
    path = f"/api/federation/v1/jobs/{incoming.origin_job_id}/cancel/"
    with on_commit():
        response = remote_lab.call(client, "POST", path, body={})
    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=incoming.local_job_id).state == JobState.CANCELLED
    assert events(incoming) == [("accepted", 1), ("queued", 2), ("cancelled", 3)]
    again = remote_lab.call(client, "POST", path, body={})
    assert again.status_code == 409


def test_clearing_the_queue_reports_the_partners_job_cancelled(client, remote_lab, printer, on_commit):
    """queue_clear cancels through job_transition_many: the partner hears of it like of any cancel."""
    from django.contrib.auth import get_user_model

    from jobs.services import queue_clear
    from tests.federation.conftest import make_partner

    make_partner(remote_lab, granted=["jobs:submit", "jobs:read"], auto_accept=True)
    with on_commit():
        incoming = forward(client, remote_lab)
    assert Job.objects.get(pk=incoming.local_job_id).state == JobState.QUEUED
    staff = get_user_model().objects.create_user("lab-staff", is_staff=True)
    with on_commit():
        assert queue_clear(user=staff, reason="lab closes early") == 1
    assert Job.objects.get(pk=incoming.local_job_id).state == JobState.CANCELLED
    assert events(incoming) == [("accepted", 1), ("queued", 2), ("cancelled", 3)]
    cancelled = FederationEvent.objects.get(job_ref=str(incoming.origin_job_id), type="cancelled")
    assert cancelled.partner == incoming.partner


def test_a_job_no_machine_here_can_print_is_rejected_with_the_reasons(client, remote_lab):
    from tests.federation.conftest import make_partner

    make_partner(remote_lab, granted=["jobs:submit"])
    incoming = incoming_job_accept(incoming=forward(client, remote_lab))
    assert incoming.state == IncomingJob.State.REJECTED
    assert incoming.state_reason
    assert not Job.objects.exists()
    assert events(incoming) == [("rejected", 1)]


def test_stop_with_on_stop_cancel_cancels_accepted_jobs(client, remote_lab, printer, on_commit):
    from tests.federation.conftest import make_partner

    partner = make_partner(remote_lab, granted=["jobs:submit"], on_stop=Partner.OnStop.CANCEL)
    with on_commit():
        incoming = incoming_job_accept(incoming=forward(client, remote_lab))
    pending = forward(client, remote_lab)
    with on_commit():
        partner_stop(partner=partner, notify=False)
    assert Job.objects.get(pk=incoming.local_job_id).state == JobState.CANCELLED
    pending.refresh_from_db()
    assert pending.state == IncomingJob.State.CANCELLED


def test_stop_with_on_stop_finish_leaves_accepted_jobs_alone(client, remote_lab, printer, on_commit):
    from tests.federation.conftest import make_partner

    partner = make_partner(remote_lab, granted=["jobs:submit"])
    with on_commit():
        incoming = incoming_job_accept(incoming=forward(client, remote_lab))
    with on_commit():
        partner_stop(partner=partner, notify=False)
    assert Job.objects.get(pk=incoming.local_job_id).state == JobState.QUEUED


def test_partner_may_only_target_shared_machines(client, remote_lab, printer):
    from tests.federation.conftest import make_partner

    make_partner(remote_lab, granted=["jobs:submit"])
    response = put_job(
        client, remote_lab, uuid.uuid4(), job_body(constraints={"machine_id": str(printer.pk)})
    )
    assert response.status_code == 400
    assert "not one of the machines shared" in str(response.json())
    assert not IncomingJob.objects.exists()


def test_printing_progress_is_reported_in_steps(client, remote_lab, printer, on_commit):
    from federation.services.jobs import incoming_jobs_report_progress
    from jobs.services import job_progress_set
    from tests.federation.conftest import make_partner

    make_partner(remote_lab, granted=["jobs:submit"])
    with on_commit():
        incoming = incoming_job_accept(incoming=forward(client, remote_lab))
    with on_commit():
        run_to(Job.objects.get(pk=incoming.local_job_id), JobState.DISPATCHING, JobState.PRINTING)
    job_progress_set(job=incoming.local_job_id, progress=40.0)
    assert incoming_jobs_report_progress() == 1
    job_progress_set(job=incoming.local_job_id, progress=42.0)
    assert incoming_jobs_report_progress() == 0  # under the 5-point step
    job_progress_set(job=incoming.local_job_id, progress=60.0)
    assert incoming_jobs_report_progress() == 1
    last = FederationEvent.objects.filter(job_ref=str(incoming.origin_job_id)).order_by("-sequence").first()
    assert (last.type, last.payload["progress"]) == ("printing", 60.0)
