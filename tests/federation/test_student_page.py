"""Lab A's student page shows a forwarded job's state at the partner lab; the student's cancel button
sends the signed cancel to the partner lab (here a small HTTP server standing in for lab B)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from federation.models import ForwardedJob, Partner
from federation.services.local_jobs import local_job_forwarded
from jobs.models import Job
from jobs.services import JobSpec, job_submit
from jobs.states import JobState
from tests.federation.test_partner_api import machine
from tests.jobs.conftest import upload

pytestmark = pytest.mark.django_db

INBOX = "/api/federation/v1/inbox/"


class PartnerServer:
    """Lab B's cancel endpoint: records what it was sent and answers with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = (
                    {"state": "accepted"}
                    if owner.status < 400
                    else {"detail": "The job is completed; there is nothing to cancel.", "code": "conflict"}
                )
                data = json.dumps(answer).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):  # a forwarded job: accepted for review, or refused with our status
                self.do_POST()

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner_lab():
    with PartnerServer() as server:
        yield server


@pytest.fixture
def lab_b(remote_lab, partner_lab) -> Partner:
    """Lab A's record of lab B, which approved us; its API is the test server above."""
    doc = remote_lab.document
    return Partner.objects.create(
        instance_id=remote_lab.instance_id,
        name="Lab B",
        well_known_url=doc["well_known_url"],
        api_base_url=f"{partner_lab.url}/api/federation/v1/",
        inbox_url=doc["inbox_url"],
        keys=doc["keys"],
        outbound_state=Partner.OutboundState.APPROVED,
        outbound_requested_scopes=["jobs:submit", "jobs:read"],
        outbound_scopes=["jobs:submit", "jobs:read"],
    )


@pytest.fixture
def student(django_user_model):
    return django_user_model.objects.create_user("student", password="x")


@pytest.fixture
def forwarded(student, lab_b) -> Job:
    """The student's job, forwarded to lab B (as job_forward_local records it)."""
    machine("Prusa-1", LOADED_MATERIALS="PLA")
    job = job_submit(user=student, spec=JobSpec(file=upload(), name="bracket"))
    local_job_forwarded(job_id=job.pk, partner_name=lab_b.name)
    ForwardedJob.objects.create(partner=lab_b, origin_job_id=job.pk, remote_state="pending_acceptance")
    return Job.objects.get(pk=job.pk)


def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def row(client: Client, job: Job) -> str:
    html = client.get("/jobs/live/").content.decode()
    match = re.search(rf'<tr id="job-{job.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {job.name}"
    return match.group(0)


def event(type_: str, sequence: int, job: Job, **payload) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "job_ref": str(job.pk),
        "sequence": sequence,
        "payload": payload,
    }


def deliver(client, remote_lab, body: dict) -> None:
    response = remote_lab.call(client, "POST", INBOX, body=body, idempotency_key=body["event_id"])
    assert response.status_code == 200 and response.json()["outcome"] == "applied", response.content


def test_the_student_sees_the_partner_labs_state_and_progress(client, remote_lab, student, forwarded):
    page = browser(student)
    assert "Pending acceptance at partner lab Lab B" in row(page, forwarded)

    deliver(client, remote_lab, event("accepted", 1, forwarded, detail="queued as 1234"))
    deliver(client, remote_lab, event("printing", 2, forwarded, progress=42.0))
    html = row(page, forwarded)
    assert 'data-remote-state="printing"' in html
    assert "Printing at partner lab Lab B" in html
    assert '<progress max="100" value="42.0">' in html and "42 %" in html

    deliver(client, remote_lab, event("completed", 3, forwarded, progress=100.0))
    html = row(page, forwarded)
    assert "Completed at partner lab Lab B" in html and "<progress" not in html
    forwarded.refresh_from_db()
    assert forwarded.state == JobState.COMPLETED  # our job ends as the partner reported
    last = forwarded.events.last()
    assert last.actor_kind == "partner" and last.reason == "partner lab Lab B completed"


def test_other_students_do_not_see_the_forwarded_job(django_user_model, forwarded):
    other = django_user_model.objects.create_user("other")
    assert f'id="job-{forwarded.pk}"' not in browser(other).get("/jobs/live/").content.decode()


def csrf_post(client: Client, path: str):
    client.get("/jobs/")
    return client.post(path, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_the_students_cancel_is_sent_signed_to_the_partner_lab(student, forwarded, partner_lab):
    response = csrf_post(browser(student), f"/jobs/{forwarded.pk}/cancel/")
    assert response.status_code == 302
    [sent] = partner_lab.requests
    assert sent["path"] == f"/api/federation/v1/jobs/{forwarded.pk}/cancel/"
    assert "Signature" in sent["headers"] and "Content-Digest" in sent["headers"]
    forwarded.refresh_from_db()
    assert forwarded.state == JobState.CANCELLED  # and it will not print here either


def test_a_refused_cancel_leaves_the_job_and_says_why(student, forwarded, partner_lab):
    partner_lab.status = 409
    response = csrf_post(browser(student), f"/jobs/{forwarded.pk}/cancel/")
    assert response.status_code == 502
    assert "nothing to cancel" in response.content.decode()
    forwarded.refresh_from_db()
    assert forwarded.state == JobState.FORWARDED


def test_a_job_the_partner_finished_is_cancelled_here_only(student, forwarded, partner_lab):
    ForwardedJob.objects.filter(origin_job_id=forwarded.pk).update(remote_state="completed")
    assert csrf_post(browser(student), f"/jobs/{forwarded.pk}/cancel/").status_code == 302
    assert partner_lab.requests == []
    forwarded.refresh_from_db()
    assert forwarded.state == JobState.CANCELLED


def test_another_student_cannot_cancel_it_at_the_partner(django_user_model, forwarded, partner_lab):
    other = django_user_model.objects.create_user("other")
    assert csrf_post(browser(other), f"/jobs/{forwarded.pk}/cancel/").status_code == 404
    assert partner_lab.requests == []


# --- forwarding: the job leaves our queue, and comes back when the partner does not take it ---------


@pytest.fixture
def queued(student) -> Job:
    machine("Prusa-1", LOADED_MATERIALS="PLA")
    return job_submit(user=student, spec=JobSpec(file=upload(), name="hinge"))


def test_a_forwarded_job_leaves_our_queue_so_our_printers_never_print_it_too(queued, lab_b, partner_lab):
    from federation.services.jobs import job_forward_local
    from jobs.selectors import queue_jobs

    assert queued.state == JobState.QUEUED and queued in queue_jobs()
    forwarded = job_forward_local(job=queued, partner=lab_b)
    [sent] = partner_lab.requests
    assert sent["path"] == f"/api/federation/v1/jobs/{queued.pk}/"
    queued.refresh_from_db()
    assert queued.state == JobState.FORWARDED and queued.position is None
    assert queued not in queue_jobs()
    assert forwarded.remote_state == "accepted"
    # Forwarding again repeats the idempotent request and changes nothing here.
    assert job_forward_local(job=queued, partner=lab_b).pk == forwarded.pk
    queued.refresh_from_db()
    assert queued.state == JobState.FORWARDED


def test_a_job_the_partner_does_not_take_is_back_at_the_front_of_our_queue(
    student, queued, lab_b, partner_lab
):
    from federation.client import FederationError
    from federation.services.jobs import job_forward_local
    from jobs.selectors import queue_jobs

    later = job_submit(user=student, spec=JobSpec(file=upload(), name="later"))
    partner_lab.status = 409
    with pytest.raises(FederationError, match="refused the job"):
        job_forward_local(job=queued, partner=lab_b)
    queued.refresh_from_db()
    assert queued.state == JobState.QUEUED
    assert list(queue_jobs())[:2] == [queued, later]
    assert "did not take it" in queued.events.last().reason
    assert not ForwardedJob.objects.filter(origin_job_id=queued.pk).exists()


def test_only_queued_jobs_are_forwarded(queued, lab_b, partner_lab):
    from django.core.exceptions import ValidationError

    from federation.services.jobs import job_forward_local
    from jobs.services import job_request_cancel

    job_request_cancel(job=queued.pk)
    queued.refresh_from_db()
    with pytest.raises(ValidationError, match="Only queued jobs can be forwarded; this one is cancelled"):
        job_forward_local(job=queued, partner=lab_b)
    assert partner_lab.requests == []


def test_a_rejection_brings_the_job_back_and_a_stop_fails_what_is_still_out(
    client, remote_lab, student, forwarded, lab_b
):
    from federation.services.connections import partner_stop

    deliver(client, remote_lab, event("rejected", 1, forwarded, detail="no PLA loaded"))
    forwarded.refresh_from_db()
    assert forwarded.state == JobState.QUEUED
    assert forwarded.events.last().reason == "partner lab Lab B refused it: no PLA loaded"

    other = job_submit(user=student, spec=JobSpec(file=upload(), name="other"))
    local_job_forwarded(job_id=other.pk, partner_name=lab_b.name)
    ForwardedJob.objects.create(partner=lab_b, origin_job_id=other.pk, remote_state="printing")
    partner_stop(partner=lab_b, reason="end of term", notify=False)
    other.refresh_from_db()
    assert other.state == JobState.FAILED
    assert other.events.last().reason == (
        "federation with Lab B stopped before it reported an outcome (last state there: printing)"
    )
