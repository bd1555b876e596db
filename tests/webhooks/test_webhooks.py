"""Webhooks against a real HTTP receiver on 127.0.0.1: signed, retried with backoff, logged, redeliverable."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from events.services import event_record, events_dispatch
from tests.waiting import wait_until
from webhooks.models import Attempt, Delivery
from webhooks.services import (
    EndpointInvalid,
    backoff,
    webhook_endpoint_create,
    webhooks_deliver_due,
)
from webhooks.signing import sign, verify

pytestmark = pytest.mark.django_db


def deliver_until(predicate, what: str):
    def step():
        webhooks_deliver_due()
        return predicate()

    return wait_until(step, timeout=30, interval=0.02, message=what)


def test_three_failures_then_exactly_one_signed_delivery(local_network_allowed, receiver, submit, student):
    endpoint = webhook_endpoint_create(name="lab bot", url=receiver.url, event_types=["job.accepted"])
    receiver.statuses = [500, 503, 502]
    job = submit(student)
    events_dispatch()
    [delivery] = Delivery.objects.all()
    deliver_until(lambda: Delivery.objects.get(pk=delivery.pk).state == "delivered", "the delivery")

    assert len(receiver.requests) == 4  # three refused, then one accepted; nothing after
    webhooks_deliver_due()
    events_dispatch()
    assert len(receiver.requests) == 4
    final = receiver.requests[-1]
    assert verify(secret=endpoint.secret, body=final["body"], header=final["headers"]["MES-Signature"])
    assert not verify(secret="whsec_wrong", body=final["body"], header=final["headers"]["MES-Signature"])
    message = json.loads(final["body"])
    assert message["type"] == "job.accepted" and message["job_id"] == str(job.pk)
    assert message["version"] == 1 and message["data"]["name"] == "part"
    assert {r["headers"]["MES-Delivery-Id"] for r in receiver.requests} == {str(delivery.pk)}

    attempts = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.status_code for a in attempts] == [500, 503, 502, 200]
    assert all(a.response_ms is not None for a in attempts)
    assert attempts[0].error == "HTTP 500" and attempts[-1].error == ""


def test_the_signature_scheme_matches_the_docs():
    body = b'{"type":"job.finished"}'
    header = sign(secret="whsec_test", body=body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert not verify(secret="whsec_test", body=body, header=header)  # too old: replay refused
    fresh = sign(secret="whsec_test", body=body)
    assert verify(secret="whsec_test", body=body, header=fresh)
    assert not verify(secret="whsec_test", body=body + b" ", header=fresh)


def test_filters_and_inactive_endpoints(local_network_allowed, receiver):
    webhook_endpoint_create(name="finished only", url=receiver.url, event_types=["job.finished"])
    webhook_endpoint_create(name="off", url=receiver.url, active=False)
    everything = webhook_endpoint_create(name="all", url=receiver.url)
    event_record(type="machine.error", payload={"name": "mk4"})
    events_dispatch()
    assert list(Delivery.objects.values_list("endpoint", flat=True)) == [everything.pk]


def test_backoff_grows_and_gives_up_after_the_retry_window(local_network_allowed, receiver, settings):
    settings.WEBHOOKS_BACKOFF_BASE = 30
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30).total_seconds() == settings.WEBHOOKS_BACKOFF_MAX
    endpoint = webhook_endpoint_create(name="down", url=receiver.url)
    receiver.statuses = [500] * 5
    event = event_record(type="machine.offline")
    delivery = Delivery.objects.create(endpoint=endpoint, event=event)
    webhooks_deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)
    # A day later the receiver still fails: the last attempt marks it failed.
    Delivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(hours=26), next_attempt_at=timezone.now()
    )
    webhooks_deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 2 and delivery.last_status == 500


def test_redeliver_sends_again_with_the_same_id(local_network_allowed, receiver, staff):
    endpoint = webhook_endpoint_create(name="bot", url=receiver.url)
    event_record(type="machine.online")
    events_dispatch()
    deliver_until(lambda: Delivery.objects.filter(state="delivered").exists(), "first delivery")
    delivery = Delivery.objects.get(endpoint=endpoint)
    client = APIClient()
    client.force_authenticate(staff)
    response = client.post(f"/api/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202 and response.json()["state"] == "pending"
    deliver_until(lambda: len(receiver.requests) == 2, "the redelivery")
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert receiver.requests[1]["headers"]["MES-Delivery-Id"] == str(delivery.pk)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("ftp://example.org/hook", "only http and https"),
    ],
)
def test_ssrf_targets_are_refused(url, why, staff):
    with pytest.raises(EndpointInvalid, match=why):
        webhook_endpoint_create(name="evil", url=url)
    client = APIClient()
    client.force_authenticate(staff)
    response = client.post("/api/webhooks/endpoints/", {"name": "evil", "url": url}, format="json")
    assert response.status_code == 400
    assert why in json.dumps(response.json())


def test_a_url_that_became_private_is_not_called(local_network_allowed, receiver, settings):
    endpoint = webhook_endpoint_create(name="bot", url=receiver.url)
    settings.OUTGOING_ALLOWED_NETWORKS = []  # e.g. the allow-list was tightened
    event_record(type="machine.online")
    events_dispatch()
    webhooks_deliver_due()
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.state == "failed" and "loopback" in delivery.last_error
    assert receiver.requests == []


def test_only_staff_manage_endpoints(student, local_network_allowed, receiver):
    client = APIClient()
    client.force_authenticate(student)
    assert client.get("/api/webhooks/endpoints/").status_code == 403
    assert client.post("/api/webhooks/endpoints/", {"name": "x", "url": receiver.url}).status_code == 403


def test_a_slow_receiver_is_cut_off_by_the_timeout(local_network_allowed, receiver, settings):
    settings.WEBHOOKS_TIMEOUT = 0.5
    receiver.hold.set()
    webhook_endpoint_create(name="slow", url=receiver.url)
    event_record(type="machine.online")
    events_dispatch()
    webhooks_deliver_due()  # returns after the timeout although the receiver still holds the request
    receiver.release.set()
    delivery = Delivery.objects.get()
    assert delivery.state == "pending" and delivery.last_error == "timed out waiting for the answer"
    assert Attempt.objects.get(delivery=delivery).response_ms >= 500


def test_staff_see_every_attempt_and_redeliver_from_the_admin(local_network_allowed, receiver, admin_client):
    endpoint = webhook_endpoint_create(name="bot", url=receiver.url)
    receiver.statuses = [503]
    event_record(type="machine.error", payload={"name": "mk4"})
    events_dispatch()
    deliver_until(lambda: Delivery.objects.filter(state="delivered").exists(), "the delivery")
    delivery = Delivery.objects.get(endpoint=endpoint)
    page = admin_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    assert "HTTP 503" in page and "try later" in page  # the failed attempt, then the accepted one
    assert [a.status_code for a in Attempt.objects.filter(delivery=delivery)] == [503, 200]

    response = admin_client.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
        follow=True,
    )
    assert "1 delivery(ies) queued again." in response.content.decode()
    deliver_until(lambda: len(receiver.requests) == 3, "the redelivery")
    assert receiver.requests[2]["body"] == receiver.requests[1]["body"]
    assert receiver.requests[2]["headers"]["MES-Delivery-Id"] == str(delivery.pk)
    assert Delivery.objects.get(pk=delivery.pk).state == "delivered"


def test_a_receiver_down_for_most_of_a_day_is_still_retried(local_network_allowed, receiver, settings):
    assert settings.WEBHOOKS_RETRY_HOURS >= 24
    endpoint = webhook_endpoint_create(name="down", url=receiver.url)
    receiver.statuses = [500]
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event=event_record(type="machine.offline"),
        created_at=timezone.now() - timedelta(hours=23, minutes=30),
    )
    webhooks_deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.last_status == 500
