"""Inbox: duplicates and out-of-order events drop; outbox: retries with exponential backoff."""

from __future__ import annotations

import datetime as dt
import socket
import uuid

import pytest
from django.utils import timezone

from federation.models import FederationEvent, ForwardedJob, InboxRecord, Partner
from federation.services.outbox import backoff, event_enqueue, federation_deliver_due_events
from federation.signals import forwarded_job_updated

pytestmark = pytest.mark.django_db

INBOX = "/api/federation/v1/inbox/"


@pytest.fixture
def partner_b(remote_lab) -> Partner:
    """Lab A's record of lab B after A sent B a connection request."""
    doc = remote_lab.document
    return Partner.objects.create(
        instance_id=remote_lab.instance_id,
        name=remote_lab.name,
        well_known_url=doc["well_known_url"],
        api_base_url=doc["api_base_url"],
        inbox_url=doc["inbox_url"],
        keys=doc["keys"],
        outbound_state=Partner.OutboundState.REQUESTED,
        outbound_requested_scopes=["machines:read", "jobs:submit", "jobs:read"],
    )


def event(type_: str, sequence: int, job_ref: str = "", **payload) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "job_ref": job_ref,
        "sequence": sequence,
        "payload": payload,
    }


def post(client, lab, body):
    return lab.call(client, "POST", INBOX, body=body, idempotency_key=body["event_id"])


def test_approval_event_records_the_narrowed_grant(client, remote_lab, partner_b):
    response = post(
        client,
        remote_lab,
        event("connection.approved", 1, scopes=["machines:read"], quotas={"jobs_per_day": 2}),
    )
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "applied"
    partner_b.refresh_from_db()
    assert partner_b.outbound_state == Partner.OutboundState.APPROVED
    assert partner_b.outbound_scopes == ["machines:read"]
    assert partner_b.outbound_quotas == {"jobs_per_day": 2}


def test_grant_beyond_what_we_asked_is_refused(client, remote_lab, partner_b):
    response = post(client, remote_lab, event("connection.approved", 1, scopes=["stats:read"]))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_event"
    partner_b.refresh_from_db()
    assert partner_b.outbound_state == Partner.OutboundState.REQUESTED
    assert not InboxRecord.objects.exists()


@pytest.fixture
def updates():
    seen: list[str] = []

    def receiver(forwarded_job, **kwargs):
        seen.append(forwarded_job.remote_state)

    forwarded_job_updated.connect(receiver)
    yield seen
    forwarded_job_updated.disconnect(receiver)


def test_job_events_apply_once_and_in_order(
    client, remote_lab, partner_b, updates, django_capture_on_commit_callbacks
):
    job_id = uuid.uuid4()
    forwarded = ForwardedJob.objects.create(partner=partner_b, origin_job_id=job_id)
    accepted = event("accepted", 1, str(job_id))
    printing = event("printing", 3, str(job_id), progress=42.5)
    queued_late = event("queued", 2, str(job_id))

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, remote_lab, accepted).json()["outcome"] == "applied"
        assert post(client, remote_lab, printing).json()["outcome"] == "applied"
    duplicate = post(client, remote_lab, accepted)  # same event id, new signature (a redelivery)
    assert duplicate.status_code == 200 and duplicate.json()["outcome"] == "duplicate"
    stale = post(client, remote_lab, queued_late)
    assert stale.json()["outcome"] == "stale"

    forwarded.refresh_from_db()
    assert forwarded.remote_state == "printing"
    assert forwarded.progress == 42.5
    assert [h["type"] for h in forwarded.history] == ["accepted", "printing"]
    assert InboxRecord.objects.count() == 2
    assert updates == ["accepted", "printing"]


def test_event_for_a_job_we_never_forwarded_is_refused(client, remote_lab, partner_b):
    partner_b.outbound_state = Partner.OutboundState.APPROVED
    partner_b.save()
    response = post(client, remote_lab, event("completed", 1, str(uuid.uuid4())))
    assert response.status_code == 400
    assert "No job with this id" in response.json()["detail"]


def test_stop_notice_stops_us_too(client, remote_lab, partner_b):
    assert (
        post(client, remote_lab, event("connection.stopped", 1, reason="lab closes")).json()["outcome"]
        == "applied"
    )
    partner_b.refresh_from_db()
    assert partner_b.is_stopped and partner_b.stopped_by == "remote"
    # From now on everything from that lab is refused, even a well-signed event.
    response = post(client, remote_lab, event("connection.approved", 2, scopes=["machines:read"]))
    assert response.status_code == 403
    assert response.json()["code"] == "partner_stopped"


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/federation/v1/inbox/"  # nothing listens here


def test_undeliverable_events_back_off_and_keep_their_order(partner_b, settings):
    settings.FEDERATION_HTTP_TIMEOUT = 2
    partner_b.inbox_url = _dead_url()
    partner_b.save()
    first = event_enqueue(partner=partner_b, type="accepted", job_ref="j1")
    second = event_enqueue(partner=partner_b, type="queued", job_ref="j1")
    assert (first.sequence, second.sequence) == (1, 2)

    assert federation_deliver_due_events() == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.attempts == 1 and first.delivered_at is None
    assert "could not reach" in first.last_error
    assert first.next_attempt_at > timezone.now() + dt.timedelta(seconds=10)
    assert second.attempts == 0  # held back: the partner is unreachable and order matters

    # Not due yet: nothing is attempted.
    assert federation_deliver_due_events() == 0
    first.refresh_from_db()
    assert first.attempts == 1

    later = timezone.now() + dt.timedelta(hours=2)
    federation_deliver_due_events(now=later)
    first.refresh_from_db()
    assert first.attempts == 2


def test_backoff_grows_exponentially_up_to_an_hour():
    assert dt.timedelta(seconds=12) <= backoff(1) <= dt.timedelta(seconds=18)
    assert dt.timedelta(seconds=48) <= backoff(3) <= dt.timedelta(seconds=72)
    assert backoff(30) <= dt.timedelta(hours=1, minutes=12)


def test_delivery_gives_up_after_max_attempts(partner_b, settings):
    settings.FEDERATION_EVENT_MAX_ATTEMPTS = 1
    partner_b.inbox_url = _dead_url()
    partner_b.save()
    queued = event_enqueue(partner=partner_b, type="connection.rejected")
    federation_deliver_due_events()
    queued.refresh_from_db()
    assert queued.next_attempt_at is None and queued.delivered_at is None


def test_stopped_partner_gets_only_the_stop_notice(partner_b, settings):
    settings.FEDERATION_HTTP_TIMEOUT = 2
    partner_b.inbox_url = _dead_url()
    partner_b.stopped_at = timezone.now()
    partner_b.save()
    job_event = event_enqueue(partner=partner_b, type="accepted", job_ref="j1")
    notice = event_enqueue(partner=partner_b, type="connection.stopped")
    federation_deliver_due_events()
    job_event.refresh_from_db()
    notice.refresh_from_db()
    assert job_event.attempts == 0
    assert notice.attempts == 1
    assert FederationEvent.objects.filter(delivered_at__isnull=True).count() == 2


def test_only_one_process_delivers_at_a_time(partner_b, settings):
    from mes.leases import default_lease_store

    settings.FEDERATION_HTTP_TIMEOUT = 2
    partner_b.inbox_url = _dead_url()
    partner_b.save()
    queued = event_enqueue(partner=partner_b, type="connection.rejected")
    store = default_lease_store()
    assert store.acquire_many(["federation:outbox"], owner="other-worker", ttl=60) == {"federation:outbox"}
    assert federation_deliver_due_events() == 0
    queued.refresh_from_db()
    assert queued.attempts == 0
    store.release_many(["federation:outbox"], owner="other-worker")
    federation_deliver_due_events()
    queued.refresh_from_db()
    assert queued.attempts == 1


def test_old_records_are_purged_but_each_jobs_newest_stays_so_sequences_continue(partner_b):
    from federation.services.outbox import federation_records_purge

    partner = partner_b
    first = event_enqueue(partner=partner, type="accepted", job_ref="job-1", payload={})
    second = event_enqueue(partner=partner, type="queued", job_ref="job-1", payload={})
    owed = event_enqueue(partner=partner, type="accepted", job_ref="job-2", payload={})
    long_ago = timezone.now() - dt.timedelta(days=40)
    FederationEvent.objects.filter(pk__in=[first.pk, second.pk]).update(delivered_at=long_ago)
    FederationEvent.objects.filter(pk=owed.pk).update(created_at=long_ago)  # never delivered

    assert federation_records_purge() == (1, 0)
    assert set(FederationEvent.objects.values_list("pk", flat=True)) == {second.pk, owed.pk}
    # The job's next event still follows on from the newest one kept.
    assert event_enqueue(partner=partner, type="printing", job_ref="job-1", payload={}).sequence == 3
