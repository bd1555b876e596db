"""Invitations, connection requests, approval that only narrows, discovery and key rotation."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from federation.identity import current_signing_key, local_key_rotate, published_keys
from federation.models import FederationEvent, Invitation, LocalKey, Partner
from federation.services.connections import invitation_create, partner_approve, partner_reject
from tests.federation.conftest import RemoteLab, make_partner

pytestmark = pytest.mark.django_db

CONNECT = "/api/federation/v1/connection-requests/"


@pytest.fixture
def discovery(monkeypatch):
    """Remote labs' discovery documents, served without a network (the two-lab test uses real HTTP)."""
    documents: dict[str, dict] = {}

    def fetch(url: str) -> dict:
        return documents[url]

    monkeypatch.setattr("federation.api.views.fetch_well_known", fetch)
    return documents


def request_body(lab: RemoteLab, *, code=None, scopes=("machines:read", "stats:read")) -> dict:
    return {
        "instance_id": lab.instance_id,
        "well_known_url": lab.document["well_known_url"],
        "scopes": list(scopes),
        "message": "We would like to use your printers.",
        "invitation": code,
    }


def connect(client, lab, discovery, **kwargs):
    discovery[lab.document["well_known_url"]] = lab.document
    return lab.call(client, "POST", CONNECT, body=request_body(lab, **kwargs))


def test_invitation_code_is_shown_once_and_stored_hashed():
    _, code = invitation_create(note="Lab A", days=3)
    assert code.startswith("labmes-inv-")
    stored = Invitation.objects.get()
    assert code not in str(stored.__dict__)
    assert stored.code_digest != code and len(stored.code_digest) == 64
    assert stored.expires_at - timezone.now() > dt.timedelta(days=2, hours=23)


def test_connection_request_with_invitation_creates_a_pending_partner(client, remote_lab, discovery):
    _, code = invitation_create(note="remote")
    response = connect(client, remote_lab, discovery, code=code)
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "pending"
    partner = Partner.objects.get()
    assert partner.instance_id.hex == remote_lab.instance_id.replace("-", "")
    assert partner.state == Partner.State.PENDING
    assert partner.requested_scopes == ["machines:read", "stats:read"]
    assert partner.scopes == []
    assert partner.inbox_url == remote_lab.document["inbox_url"]
    assert Invitation.objects.get().used_by == partner


def test_reused_invitation_is_refused_and_nothing_changes(client, remote_lab, discovery):
    _, code = invitation_create()
    assert connect(client, remote_lab, discovery, code=code).status_code == 202
    other = RemoteLab("Other")
    response = connect(client, other, discovery, code=code)
    assert response.status_code == 403
    assert response.json()["code"] == "invitation_used"
    assert Partner.objects.count() == 1


def test_expired_invitation_is_refused(client, remote_lab, discovery):
    invitation, code = invitation_create()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = connect(client, remote_lab, discovery, code=code)
    assert response.status_code == 403
    assert response.json()["code"] == "invitation_expired"
    assert not Partner.objects.exists()
    assert Invitation.objects.get().used_at is None


def test_unknown_invitation_is_refused(client, remote_lab, discovery):
    response = connect(client, remote_lab, discovery, code="labmes-inv-guessed")
    assert response.status_code == 403
    assert response.json()["code"] == "invitation_invalid"
    assert not Partner.objects.exists()


def test_without_invitation_only_a_discoverable_lab_accepts_and_throttles(
    client, remote_lab, discovery, settings
):
    response = connect(client, remote_lab, discovery)
    assert response.status_code == 403
    assert response.json()["code"] == "invitation_required"
    assert not Partner.objects.exists()

    settings.FEDERATION_DISCOVERABLE = True
    settings.FEDERATION_CONNECT_RATE = "3/hour"  # the refused request above counts too
    assert connect(client, remote_lab, discovery).status_code == 202
    assert connect(client, RemoteLab("B"), discovery).status_code == 202
    throttled = connect(client, RemoteLab("C"), discovery)
    assert throttled.status_code == 429
    assert Partner.objects.count() == 2


def test_connection_request_signed_with_a_key_the_lab_does_not_publish_is_refused(
    client, remote_lab, discovery
):
    _, code = invitation_create()
    discovery[remote_lab.document["well_known_url"]] = remote_lab.document
    impostor = RemoteLab("Impostor")
    body = request_body(remote_lab, code=code)  # claims to be remote_lab, signs with its own key
    data, headers = impostor.signed(
        "POST", CONNECT, body=body, key_id=remote_lab.key_id, private_key=impostor.private_key
    )
    from tests.federation.conftest import send

    response = send(client, "POST", CONNECT, data, headers)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert not Partner.objects.exists()
    assert Invitation.objects.get().used_at is None


def test_approval_narrows_scopes_sets_quotas_and_queues_the_grant(remote_lab):
    partner = make_partner(remote_lab, requested=["machines:read", "stats:read", "jobs:submit"])
    partner = partner_approve(
        partner=partner, scopes=["machines:read"], jobs_per_day=3, max_print_hours="4.5"
    )
    assert partner.state == Partner.State.APPROVED
    assert partner.scopes == ["machines:read"]
    assert partner.user.username == f"partner-{partner.instance_id}"
    assert not partner.user.has_usable_password()
    event = FederationEvent.objects.get()
    assert event.type == "connection.approved"
    assert event.payload == {
        "scopes": ["machines:read"],
        "quotas": {"jobs_per_day": 3, "max_print_hours": "4.50"},
    }


def test_approval_cannot_grant_more_than_requested(remote_lab):
    partner = make_partner(remote_lab, requested=["machines:read"])
    with pytest.raises(ValidationError, match="can only narrow"):
        partner_approve(partner=partner, scopes=["machines:read", "jobs:submit"])
    partner.refresh_from_db()
    assert partner.state == Partner.State.PENDING
    assert not FederationEvent.objects.exists()


def test_rejection_is_told_to_the_partner(remote_lab):
    partner = partner_reject(partner=make_partner(remote_lab), reason="not now")
    assert partner.state == Partner.State.REJECTED
    assert FederationEvent.objects.get().type == "connection.rejected"


def test_well_known_publishes_identity_and_keys_but_never_private_ones(client, settings):
    settings.FEDERATION_BASE_URL = "https://mes.lab-b.example"
    document = client.get("/.well-known/lab-mes").json()
    assert document["software"] == "lab-mes"
    assert document["api_base_url"] == "https://mes.lab-b.example/api/federation/v1/"
    assert document["inbox_url"] == "https://mes.lab-b.example/api/federation/v1/inbox/"
    [key] = document["keys"]
    assert key["alg"] == "ed25519" and key["keyid"].startswith(document["instance_id"] + "/")
    assert "PRIVATE" not in str(document)
    key_file = settings.FEDERATION_KEY_DIR / f"{LocalKey.objects.get().kid}.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    assert "PRIVATE" not in str(list(LocalKey.objects.values()))


def test_rotation_publishes_both_keys_and_signs_with_the_new_one(client):
    first = published_keys()[0]
    call_command("federation_rotate_key")
    keys = client.get("/.well-known/lab-mes").json()["keys"]
    assert len(keys) == 2
    key_id, _ = current_signing_key()
    assert not key_id.endswith(first.kid)
    local_key_rotate(retire_old=True)
    assert len(client.get("/.well-known/lab-mes").json()["keys"]) == 1


def test_missing_private_key_file_fails_loudly(settings):
    from django.core.exceptions import ImproperlyConfigured

    key = published_keys()[0]
    (settings.FEDERATION_KEY_DIR / f"{key.kid}.pem").unlink()
    with pytest.raises(ImproperlyConfigured, match="missing"):
        current_signing_key()


def test_staff_api_invitation_and_approval(client, remote_lab):
    staff = get_user_model().objects.create_user("staff", password="pw-123456", is_staff=True)
    student = get_user_model().objects.create_user("student", password="pw-123456")
    client.force_login(student)
    assert client.post("/api/federation/invitations/", {"note": "x"}).status_code == 403
    client.force_login(staff)
    response = client.post(
        "/api/federation/invitations/", {"note": "Lab A", "days": 5}, content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json()["code"].startswith("labmes-inv-")
    assert "code" not in client.get("/api/federation/invitations/").json()["results"][0]

    partner = make_partner(remote_lab, requested=["machines:read", "stats:read"])
    url = f"/api/federation/partners/{partner.pk}/approve/"
    too_much = client.post(url, {"scopes": ["jobs:submit"]}, content_type="application/json")
    assert too_much.status_code == 400
    assert "only narrow" in str(too_much.json())
    response = client.post(
        url, {"scopes": ["stats:read"], "jobs_per_day": 2}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["scopes"] == ["stats:read"]
    stop = client.post(
        f"/api/federation/partners/{partner.pk}/stop/", {"notify": False}, content_type="application/json"
    )
    assert stop.status_code == 200
    assert stop.json()["partner"]["stopped"] is True


def test_bad_invitation_is_refused_before_we_fetch_anything(client, remote_lab, monkeypatch):
    fetched = []
    monkeypatch.setattr("federation.api.views.fetch_well_known", lambda url: fetched.append(url))
    response = remote_lab.call(client, "POST", CONNECT, body=request_body(remote_lab, code="labmes-inv-nope"))
    assert response.status_code == 403
    assert fetched == []


def test_bootstrap_creates_the_identity_and_first_key_before_processes_start(settings, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from federation.models import LocalKey

    settings.FEDERATION_KEY_DIR = tmp_path / "keys"
    settings.VAR_DIR, settings.STATIC_ROOT = tmp_path, tmp_path / "static"  # the admin password, static files
    assert not LocalKey.objects.exists()
    call_command("bootstrap", stdout=StringIO())
    [key] = LocalKey.objects.all()
    assert (tmp_path / "keys" / f"{key.kid}.pem").is_file()
    call_command("bootstrap", stdout=StringIO())  # again: the same key, none added
    assert list(LocalKey.objects.values_list("kid", flat=True)) == [key.kid]
