"""Calls to partner labs: the unsigned discovery document and signed requests."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlparse

import requests
import urllib3
from django.conf import settings

from federation.identity import current_signing_key, public_key_from_text, split_key_id
from federation.signing import sign_prepared_request
from mes.outgoing import OutgoingURLRefused, check_outgoing_url, describe_connection_error

WELL_KNOWN_PATH = "/.well-known/lab-mes"
MAX_DOCUMENT_BYTES = 64 * 1024


class FederationError(Exception):
    """A partner lab could not be reached or refused; the message says why, for the admin."""


def check_url(url: str, *, what: str) -> str:
    """Only http(s) URLs, plain http only when FEDERATION_ALLOW_HTTP (development), and only hosts
    that resolve to addresses we may call (public ones or OUTGOING_ALLOWED_NETWORKS)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise FederationError(f"{what} must be an http(s) URL, got {url!r}")
    if parsed.scheme == "http" and not settings.FEDERATION_ALLOW_HTTP:
        raise FederationError(f"{what} must use https (FEDERATION_ALLOW_HTTP is off): {url!r}")
    try:
        check_outgoing_url(url)
    except OutgoingURLRefused as exc:
        raise FederationError(f"{what} {url} is refused: {exc}") from exc
    return url


def well_known_url_for(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    if base_url.endswith(WELL_KNOWN_PATH):
        return base_url
    return base_url + WELL_KNOWN_PATH


def _validated_document(data: Any, url: str) -> dict:
    if not isinstance(data, dict) or data.get("software") != "lab-mes":
        raise FederationError(f"{url} is not a Lab MES discovery document")
    try:
        uuid.UUID(str(data["instance_id"]))
        for field in ("api_base_url", "inbox_url", "connect_url"):
            check_url(str(data[field]), what=field)
        keys = {}
        for key in data["keys"]:
            instance_id, _ = split_key_id(key["keyid"])
            if instance_id != str(data["instance_id"]) or key.get("alg") != "ed25519":
                raise ValueError(f"key {key['keyid']!r} does not belong to the instance or is not ed25519")
            public_key_from_text(key["public_key"])
            keys[key["keyid"]] = key["public_key"]
    except (KeyError, TypeError, ValueError) as exc:
        raise FederationError(f"{url} has an invalid discovery document: {exc}") from exc
    if not keys:
        raise FederationError(f"{url} publishes no signing keys")
    return {**data, "keys": keys, "name": str(data.get("name") or data["instance_id"])[:200]}


def fetch_well_known(url: str) -> dict:
    """Fetch and validate a partner's /.well-known/lab-mes; keys come back as {keyid: public key}."""
    check_url(url, what="the discovery URL")
    try:
        response = requests.get(
            url, timeout=settings.FEDERATION_HTTP_TIMEOUT, allow_redirects=False, stream=True
        )
        content = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise FederationError(f"could not reach {url}: {describe_connection_error(exc)}") from exc
    if response.status_code != 200:
        raise FederationError(f"{url} answered HTTP {response.status_code}")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise FederationError(f"{url} sent a discovery document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise FederationError(f"{url} did not answer with JSON") from exc
    return _validated_document(data, url)


def signed_request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    idempotency_key: str | None = None,
    etag: str = "",
    timeout: float | None = None,
) -> requests.Response:
    """Send a request signed with this lab's current key. Network errors raise FederationError."""
    check_url(url, what="the partner URL")
    headers = {"Accept": "application/json"}
    data = None
    if json_body is not None:
        data = json.dumps(json_body, separators=(",", ":"), sort_keys=True).encode()
        headers["Content-Type"] = "application/json"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    if etag:
        headers["If-None-Match"] = etag
    prepared = requests.Request(method.upper(), url, headers=headers, data=data).prepare()
    key_id, private_key = current_signing_key()
    sign_prepared_request(prepared, key_id=key_id, private_key=private_key)
    try:
        with requests.Session() as session:
            return session.send(
                prepared, timeout=timeout or settings.FEDERATION_HTTP_TIMEOUT, allow_redirects=False
            )
    except requests.RequestException as exc:
        raise FederationError(f"could not reach {url}: {describe_connection_error(exc)}") from exc


def response_reason(response: requests.Response) -> str:
    """The partner's reason for a refusal, for messages to our admin."""
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = data.get("detail") if isinstance(data, dict) else None
    return f"HTTP {response.status_code}: {detail or data}"
