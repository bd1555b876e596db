"""Who sees and changes what; change markers; pause/resume/cancel requests reaching the runtime."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import signals
from jobs.models import Job
from jobs.services import job_transition
from mes.models import ApiToken
from mes.services import api_token_create
from tests.jobs.helpers import make_job

pytestmark = pytest.mark.django_db


def test_anonymous_is_refused_everywhere(api, student):
    job = make_job(student)
    client = api()
    for method, url in [
        ("get", "/api/jobs/"),
        ("get", f"/api/jobs/{job.pk}/"),
        ("get", "/api/jobs/queue/"),
        ("get", "/api/jobs/history/"),
        ("post", "/api/jobs/"),
        ("post", f"/api/jobs/{job.pk}/cancel/"),
        ("post", "/api/jobs/queue/clear/"),
        ("delete", f"/api/jobs/{job.pk}/"),
    ]:
        assert getattr(client, method)(url).status_code in (401, 403), url
    assert Job.objects.get(pk=job.pk).state == "queued"


def test_students_see_only_their_own_jobs(api, student, other_student, staff):
    mine = make_job(student, name="mine")
    theirs = make_job(other_student, name="theirs")
    client = api(student)
    assert [j["name"] for j in client.get("/api/jobs/").json()["results"]] == ["mine"]
    assert client.get(f"/api/jobs/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/jobs/{theirs.pk}/events/").status_code == 404
    queue = client.get("/api/jobs/queue/").json()
    assert [(j["name"], j["queue_index"]) for j in queue["items"]] == [("mine", 0)]
    other_queue = api(other_student).get("/api/jobs/queue/").json()
    assert [(j["name"], j["queue_index"]) for j in other_queue["items"]] == [("theirs", 1)]
    assert {j["name"] for j in api(staff).get("/api/jobs/").json()["results"]} == {"mine", "theirs"}
    assert mine.pk


def test_students_change_only_their_own_jobs(api, student, other_student, staff):
    theirs = make_job(other_student)
    client = api(student)
    assert client.patch(f"/api/jobs/{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"/api/jobs/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/jobs/{theirs.pk}/cancel/").status_code == 404
    # Batch endpoints name other users' jobs as unknown, and change nothing.
    r = client.post("/api/jobs/queue/remove/", {"uids": [str(theirs.pk)]}, format="json")
    assert r.status_code == 409 and "no such job" in r.json()["detail"]
    assert Job.objects.get(pk=theirs.pk).state == "queued"
    assert api(staff).post(f"/api/jobs/{theirs.pk}/cancel/").status_code == 200


def test_staff_only_operations(api, student):
    job = make_job(student)
    client = api(student)
    for url, data in [
        ("/api/jobs/queue/clear/", {}),
        ("/api/jobs/queue/start/", {}),
        ("/api/jobs/queue/stop/", {}),
        ("/api/jobs/queue/lock/", {"note": "x"}),
        ("/api/jobs/queue/move/", {"uids": [str(job.pk)], "pos": "front"}),
        (f"/api/jobs/{job.pk}/move/", {"pos": "front"}),
    ]:
        response = client.post(url, data, format="json")
        assert response.status_code == 403, url
        assert "staff" in response.json()["detail"]


def test_token_scopes(api, student):
    make_job(student)
    _, read_only = api_token_create(user=student, name="ro", scopes=["jobs:read"])
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_only}")
    assert client.get("/api/jobs/").status_code == 200
    assert client.post("/api/jobs/queue/remove/", {"uids": []}, format="json").status_code == 403
    _, other = api_token_create(user=student, name="m", scopes=["machines:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other}")
    assert client.get("/api/jobs/").status_code == 403
    assert ApiToken.objects.count() == 2


def test_queue_etag_and_304(api, staff, student):
    job = make_job(student)
    client = api(staff)
    first = client.get("/api/jobs/queue/")
    etag = first["ETag"]
    assert first.status_code == 200 and etag
    assert client.get("/api/jobs/queue/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    client.post("/api/jobs/queue/lock/", {"note": "x"}, format="json")
    changed = client.get("/api/jobs/queue/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    etag = changed["ETag"]
    client.post("/api/jobs/queue/unlock/")
    etag = client.get("/api/jobs/queue/")["ETag"]
    job_transition(job=job, to_state="dispatching", actor_kind="scheduler")
    assert client.get("/api/jobs/queue/", HTTP_IF_NONE_MATCH=etag).status_code == 200
    # Another viewer never gets this viewer's marker.
    assert api(student).get("/api/jobs/queue/")["ETag"] != client.get("/api/jobs/queue/")["ETag"]


def test_history_etag_follows_history_only(api, staff, student):
    printing = make_job(student, "printing")
    client = api(staff)
    etag = client.get("/api/jobs/history/")["ETag"]
    make_job(student)  # queue change, not history
    assert client.get("/api/jobs/history/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get("/api/jobs/history/?limit=1", HTTP_IF_NONE_MATCH=etag).status_code == 200
    job_transition(job=printing, to_state="completed", actor_kind="reconciler")
    response = client.get("/api/jobs/history/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["count"] == 1


@pytest.fixture
def control_requests():
    received = []

    def receiver(sender, job_id, machine_id, action, **kwargs):
        received.append((job_id, machine_id, action))

    signals.job_control_requested.connect(receiver, weak=False)
    yield received
    signals.job_control_requested.disconnect(receiver)


def test_pause_resume_cancel_reach_the_runtime_and_state_follows_the_machine(
    api, student, machine, control_requests, django_capture_on_commit_callbacks
):
    job = make_job(student, "printing", machine=machine)
    client = api(student)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/jobs/{job.pk}/pause/", {"reason": "spaghetti"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "printing" and body["requested_action"] == "pause"
    assert control_requests == [(job.pk, machine.pk, "pause")]
    event = job.events.order_by("-id").first()
    assert (event.kind, event.extra, event.reason, event.actor) == (
        "request",
        {"request": "pause"},
        "spaghetti",
        student,
    )
    # The reconciler sees the machine paused: the request is fulfilled.
    job_transition(job=job, to_state="paused", actor_kind="reconciler")
    job.refresh_from_db()
    assert (job.state, job.requested_action) == ("paused", "")
    assert client.post(f"/api/jobs/{job.pk}/pause/").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/jobs/{job.pk}/resume/").status_code == 202
        assert client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 202
    assert [a for _, _, a in control_requests] == ["pause", "resume", "cancel"]
    job.refresh_from_db()
    assert job.state == "paused" and job.requested_action == "cancel"
    job_transition(job=job, to_state="cancelled", actor_kind="reconciler", reason="cancelled at printer")
    job.refresh_from_db()
    assert job.requested_action == "" and job.finished_at is not None
    assert client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 409


def test_control_refused_in_wrong_state(api, student, control_requests):
    queued = make_job(student)
    r = api(student).post(f"/api/jobs/{queued.pk}/pause/")
    assert r.status_code == 409 and "cannot pause a job that is queued" in r.json()["detail"]
    assert api(student).post(f"/api/jobs/{queued.pk}/resume/").status_code == 409
    assert control_requests == []


def test_cancel_of_waiting_job_is_immediate(api, student, control_requests):
    job = make_job(student)
    response = api(student).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert control_requests == []


def test_pending_request_survives_on_the_row(api, student, machine):
    """A runtime that was down finds undelivered requests on the job (stateless re-delivery)."""
    job = make_job(student, "printing", machine=machine)
    api(student).post(f"/api/jobs/{job.pk}/cancel/")
    pending = Job.objects.filter(
        requested_action="cancel", requested_at__gt=timezone.now() - timedelta(minutes=1)
    )
    assert list(pending) == [job]


def test_schema_documents_the_jobs_api(api):
    schema = api().get("/api/schema/").content.decode()
    for path in ("/api/jobs/queue/move/", "/api/jobs/{id}/pause/", "/api/jobs/history/", "/api/jobs/batch/"):
        assert path in schema
