"""Every federation request is signed; each kind of bad request is refused with its reason and changes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.models import IncomingJob, Partner, SeenNonce
from federation.services.connections import partner_stop
from tests.federation.conftest import RemoteLab, make_partner, send

pytestmark = pytest.mark.django_db

MACHINES = "/api/federation/v1/machines/"
STATS = "/api/federation/v1/stats/"


def job_body(gcode: bytes = b"G28\nG1 X10\n", **extra) -> dict:
    return {
        "name": "bracket",
        "gcode_base64": base64.b64encode(gcode).decode(),
        "sha256": hashlib.sha256(gcode).hexdigest(),
        "constraints": {"material": "PLA"},
        "requester_ref": "student-42",
        "estimated_print_seconds": 3600,
        **extra,
    }


def refused(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    assert response.json()["code"] == code, response.json()
    return response.json()["detail"]


def test_signed_request_from_an_approved_partner_is_answered(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    response = remote_lab.call(client, "GET", MACHINES)
    assert response.status_code == 200, response.content
    assert response.json() == []


def test_unsigned_request_is_refused(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    detail = refused(client.get(MACHINES), 401, "missing_signature")
    assert "sign the request" in detail


def test_replayed_request_is_refused_with_409(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    data, headers = remote_lab.signed("GET", MACHINES)
    assert send(client, "GET", MACHINES, data, headers).status_code == 200
    detail = refused(send(client, "GET", MACHINES, data, headers), 409, "replayed_request")
    assert "replay" in detail
    assert SeenNonce.objects.count() == 1


def test_replayed_job_put_creates_nothing_twice(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"])
    job_id = uuid.uuid4()
    path = f"/api/federation/v1/jobs/{job_id}/"
    data, headers = remote_lab.signed("PUT", path, body=job_body(), idempotency_key=str(job_id))
    assert send(client, "PUT", path, data, headers).status_code == 202
    refused(send(client, "PUT", path, data, headers), 409, "replayed_request")
    assert IncomingJob.objects.count() == 1


def test_tampered_body_is_refused_and_nothing_is_stored(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"])
    path = f"/api/federation/v1/jobs/{uuid.uuid4()}/"
    data, headers = remote_lab.signed("PUT", path, body=job_body())
    tampered = data.replace(b"bracket", b"bracket-evil")
    detail = refused(send(client, "PUT", path, tampered, headers), 401, "digest_mismatch")
    assert "Content-Digest does not match" in detail
    assert IncomingJob.objects.count() == 0


def test_tampered_digest_header_breaks_the_signature(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"])
    path = f"/api/federation/v1/jobs/{uuid.uuid4()}/"
    data, headers = remote_lab.signed("PUT", path, body=job_body())
    tampered = data.replace(b"bracket", b"bracket-evil")
    headers["Content-Digest"] = (
        "sha-256=:" + base64.b64encode(hashlib.sha256(tampered).digest()).decode() + ":"
    )
    refused(send(client, "PUT", path, tampered, headers), 401, "bad_signature")
    assert IncomingJob.objects.count() == 0


def test_request_for_another_url_is_refused(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read", "stats:read"])
    data, headers = remote_lab.signed("GET", STATS)
    refused(send(client, "GET", MACHINES, data, headers), 401, "bad_signature")


def test_expired_signature_is_refused(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=200)
    response = remote_lab.call(client, "GET", MACHINES, now=past, lifetime=dt.timedelta(seconds=60))
    assert "expired" in refused(response, 401, "signature_expired")
    assert SeenNonce.objects.count() == 0


def test_clock_skew_over_300_seconds_is_refused(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    future = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=400)
    response = remote_lab.call(client, "GET", MACHINES, now=future, lifetime=dt.timedelta(seconds=60))
    assert "Clock skew" in refused(response, 401, "clock_skew")


def test_signature_lifetime_over_300_seconds_is_refused(client, remote_lab, settings):
    make_partner(remote_lab, granted=["machines:read"])
    data, headers = remote_lab.signed("GET", MACHINES)
    settings.FEDERATION_MAX_SKEW = 30  # the same signature is now too long-lived for this receiver
    refused(send(client, "GET", MACHINES, data, headers), 401, "lifetime_too_long")


def test_wrong_key_for_a_known_key_id_is_refused(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    impostor = ed25519.Ed25519PrivateKey.generate()
    response = remote_lab.call(client, "GET", MACHINES, private_key=impostor)
    refused(response, 401, "bad_signature")


def test_unknown_lab_is_refused(client, remote_lab):
    stranger = RemoteLab("Stranger")
    response = stranger.call(client, "GET", MACHINES)
    assert "Unknown signing key" in refused(response, 401, "unknown_key")


def test_scope_not_granted_is_refused(client, remote_lab):
    make_partner(remote_lab, requested=["machines:read", "stats:read"], granted=["machines:read"])
    detail = refused(remote_lab.call(client, "GET", STATS), 403, "scope_not_granted")
    assert "stats:read" in detail


def test_pending_partner_is_refused(client, remote_lab):
    make_partner(remote_lab)  # requested, not approved
    refused(remote_lab.call(client, "GET", MACHINES), 403, "partner_not_approved")


def test_stopped_partner_is_refused_for_every_request(client, remote_lab):
    partner = make_partner(remote_lab, granted=["machines:read", "jobs:submit"])
    assert remote_lab.call(client, "GET", MACHINES).status_code == 200
    partner_stop(partner=partner, reason="test", notify=False)
    refused(remote_lab.call(client, "GET", MACHINES), 403, "partner_stopped")
    job_id = uuid.uuid4()
    refused(
        remote_lab.call(client, "PUT", f"/api/federation/v1/jobs/{job_id}/", body=job_body()),
        403,
        "partner_stopped",
    )
    refused(
        remote_lab.call(
            client,
            "POST",
            "/api/federation/v1/inbox/",
            body={"event_id": str(uuid.uuid4()), "type": "connection.approved", "sequence": 1, "payload": {}},
        ),
        403,
        "partner_stopped",
    )
    assert IncomingJob.objects.count() == 0
    assert Partner.objects.get().stopped_by == "local"


def test_idempotency_key_must_be_covered_when_present(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"])
    job_id = uuid.uuid4()
    path = f"/api/federation/v1/jobs/{job_id}/"
    data, headers = remote_lab.signed("PUT", path, body=job_body())  # signed without the key
    headers["Idempotency-Key"] = "added-later"
    assert "idempotency-key" in refused(send(client, "PUT", path, data, headers), 401, "bad_signature")
    assert IncomingJob.objects.count() == 0


def test_partner_key_rotation_is_picked_up_from_its_discovery_document(client, remote_lab, monkeypatch):
    partner = make_partner(remote_lab, granted=["machines:read"])
    new_key = ed25519.Ed25519PrivateKey.generate()
    rotated = RemoteLab(remote_lab.name)
    rotated.instance_id, rotated.private_key, rotated.key_id = (
        remote_lab.instance_id,
        new_key,
        f"{remote_lab.instance_id}/k2",
    )
    fetched = []

    def fetch(url):
        fetched.append(url)
        return rotated.document

    monkeypatch.setattr("federation.services.connections.fetch_well_known", fetch)
    assert rotated.call(client, "GET", MACHINES).status_code == 200
    assert fetched == [partner.well_known_url]
    partner.refresh_from_db()
    assert list(partner.keys) == [rotated.key_id]
    # The old key is no longer published, so it is no longer trusted.
    refused(remote_lab.call(client, "GET", MACHINES), 401, "unknown_key")
