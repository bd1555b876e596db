"""Fixtures for federation tests: an isolated key directory and a simulated remote lab that signs."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.identity import b64url
from federation.models import Partner
from federation.services.connections import connection_request_receive, partner_approve
from federation.signing import sign_prepared_request


@pytest.fixture(autouse=True)
def _federation_settings(settings, tmp_path):
    settings.FEDERATION_KEY_DIR = tmp_path / "federation-keys"
    settings.FEDERATION_BASE_URL = ""
    settings.FEDERATION_ALLOW_HTTP = True
    settings.FEDERATION_DISCOVERABLE = False
    # Partner labs in these tests listen on this machine.
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.0/8"]


class RemoteLab:
    """A partner lab in a unit test: its own instance id and Ed25519 key, signing like Lab MES does."""

    def __init__(self, name: str = "Remote Lab") -> None:
        self.name = name
        self.instance_id = str(uuid.uuid4())
        self.private_key = ed25519.Ed25519PrivateKey.generate()
        self.key_id = f"{self.instance_id}/k1"
        self.base = "http://remote.example"

    @property
    def public_key_text(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b64url(raw)

    @property
    def document(self) -> dict:
        """As federation.client.fetch_well_known returns it."""
        return {
            "software": "lab-mes",
            "instance_id": self.instance_id,
            "name": self.name,
            "well_known_url": f"{self.base}/.well-known/lab-mes",
            "api_base_url": f"{self.base}/api/federation/v1/",
            "inbox_url": f"{self.base}/api/federation/v1/inbox/",
            "connect_url": f"{self.base}/api/federation/v1/connection-requests/",
            "keys": {self.key_id: self.public_key_text},
        }

    def signed(
        self,
        method: str,
        path: str,
        *,
        body=None,
        idempotency_key: str | None = None,
        now: dt.datetime | None = None,
        lifetime: dt.timedelta | None = None,
        private_key=None,
        key_id: str | None = None,
    ) -> tuple[bytes, dict]:
        """Body bytes and headers for a request to the test server (http://testserver)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        prepared = requests.Request(method, f"http://testserver{path}", headers=headers, data=data).prepare()
        sign_prepared_request(
            prepared,
            key_id=key_id or self.key_id,
            private_key=private_key or self.private_key,
            now=now,
            lifetime=lifetime,
        )
        return prepared.body or b"", dict(prepared.headers)

    def call(self, client, method: str, path: str, *, body=None, **kwargs):
        data, headers = self.signed(method, path, body=body, **kwargs)
        return send(client, method, path, data, headers)


def send(client, method: str, path: str, data: bytes, headers: dict):
    headers = {k: v for k, v in headers.items() if k.lower() not in {"content-type", "content-length"}}
    return client.generic(method, path, data=data, content_type="application/json", headers=headers)


@pytest.fixture
def remote_lab() -> RemoteLab:
    return RemoteLab()


def make_partner(lab: RemoteLab, *, requested=None, granted=None, **approve) -> Partner:
    requested = requested or ["machines:read", "stats:read", "jobs:submit", "jobs:read"]
    partner = connection_request_receive(
        document=lab.document, scopes=requested, message="hello", invitation_code=None, discoverable=True
    )
    if granted is not None:
        partner = partner_approve(partner=partner, scopes=granted, **approve)
    return partner
