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
    ForwardedJob.objects.create(partner=lab_b, origin_job_id=job.pk, remote_state="pending_acceptance")
    return job


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
    assert forwarded.state == JobState.QUEUED


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
