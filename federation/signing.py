"""HTTP Message Signatures (RFC 9421) for every federation request, with RFC 9530 Content-Digest.

Outgoing requests are signed over ``@method``, ``@target-uri``, ``content-digest`` and, when present,
``idempotency-key``, with ``created``, ``expires``, a ``nonce``, the ``keyid`` and ``alg=ed25519``.
``verify_request`` checks all of that and raises ``SignatureRejected`` with the HTTP status and a
reason a partner's admin can act on. Replay (nonce) checks and partner policy are the caller's.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import http_sf
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

SIGNATURE_LABEL = "labmes"
SIGNATURE_TAG = "lab-mes-federation"
REQUIRED_COMPONENTS = ("@method", "@target-uri", "content-digest")
EXPIRY_GRACE = dt.timedelta(seconds=5)


class SignatureRejected(Exception):
    """A request whose signature we refuse; ``status`` and ``reason`` go back to the sender."""

    def __init__(self, reason: str, *, status: int = 401, code: str = "bad_signature") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


@dataclass(frozen=True)
class VerifiedSignature:
    key_id: str
    nonce: str
    created: dt.datetime
    expires: dt.datetime


def max_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=settings.FEDERATION_MAX_SKEW)


def sign_prepared_request(
    prepared,
    *,
    key_id: str,
    private_key: ed25519.Ed25519PrivateKey,
    lifetime: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Sign a ``requests.PreparedRequest`` in place (adds Content-Digest, Signature-Input, Signature)."""
    lifetime = lifetime or max_lifetime()
    if lifetime > max_lifetime():
        raise ValueError(f"signatures may live at most {settings.FEDERATION_MAX_SKEW} s")
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    covered = list(REQUIRED_COMPONENTS)
    if "Idempotency-Key" in prepared.headers:
        covered.append("idempotency-key")
    now = now or dt.datetime.now(dt.UTC)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: private_key}),
    )
    signer.sign(
        prepared,
        key_id=key_id,
        created=now,
        expires=now + lifetime,
        nonce=secrets.token_urlsafe(18),
        label=SIGNATURE_LABEL,
        tag=SIGNATURE_TAG,
        covered_component_ids=covered,
        body=body,
    )


class _Message:
    """The request as the signature library reads it."""

    def __init__(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers)


class _RecordingResolver(HTTPSignatureKeyResolver):
    def __init__(self, resolve: Callable[[str], ed25519.Ed25519PublicKey | None]) -> None:
        self._resolve = resolve
        self.unknown_key_id: str | None = None

    def resolve_public_key(self, key_id: str):
        key = self._resolve(key_id)
        if key is None:
            self.unknown_key_id = key_id
        return key

    def resolve_private_key(self, key_id: str):
        raise NotImplementedError("verification only")


def _signature_params(headers: Mapping[str, str]) -> dict:
    lowered = {name.lower(): value for name, value in headers.items()}
    if "signature-input" not in lowered or "signature" not in lowered:
        raise SignatureRejected(
            "This request is not signed; federation requests need Signature-Input and Signature headers.",
            code="missing_signature",
        )
    try:
        parsed = http_sf.parse(lowered["signature-input"].encode(), tltype="dictionary")
    except ValueError as exc:
        raise SignatureRejected(
            f"Malformed Signature-Input header: {exc}", code="malformed_signature"
        ) from exc
    if SIGNATURE_LABEL not in parsed:
        raise SignatureRejected(
            f"Signature-Input carries no signature labelled {SIGNATURE_LABEL!r}.", code="malformed_signature"
        )
    return dict(parsed[SIGNATURE_LABEL][1])


def _timestamps(params: dict, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    for name in ("created", "expires", "nonce", "keyid"):
        if name not in params:
            raise SignatureRejected(f"The signature has no {name!r} parameter.", code="malformed_signature")
    if params.get("alg") != "ed25519":
        raise SignatureRejected("The signature must use alg=ed25519.", code="malformed_signature")
    if not isinstance(params["created"], int) or not isinstance(params["expires"], int):
        raise SignatureRejected("created and expires must be integers.", code="malformed_signature")
    created = dt.datetime.fromtimestamp(params["created"], tz=dt.UTC)
    expires = dt.datetime.fromtimestamp(params["expires"], tz=dt.UTC)
    skew = settings.FEDERATION_MAX_SKEW
    if expires - created > max_lifetime():
        raise SignatureRejected(
            f"The signature is valid for {int((expires - created).total_seconds())} s; at most {skew} s allowed.",
            code="lifetime_too_long",
        )
    if expires + EXPIRY_GRACE < now:
        raise SignatureRejected(
            f"The signature expired {int((now - expires).total_seconds())} s ago.", code="signature_expired"
        )
    if abs((created - now).total_seconds()) > skew:
        raise SignatureRejected(
            f"Clock skew too large: the signature was created {int((created - now).total_seconds())} s "
            f"from our clock (at most {skew} s allowed).",
            code="clock_skew",
        )
    return created, expires


def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], ed25519.Ed25519PublicKey | None],
    now: dt.datetime | None = None,
) -> VerifiedSignature:
    """Check the signature, its coverage, lifetime and the body digest; raise SignatureRejected."""
    now = now or dt.datetime.now(dt.UTC)
    params = _signature_params(headers)
    created, expires = _timestamps(params, now)
    required = list(REQUIRED_COMPONENTS)
    if any(name.lower() == "idempotency-key" for name in headers):
        required.append("idempotency-key")
    resolver = _RecordingResolver(resolve_key)
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    verifier.max_clock_skew = dt.timedelta(seconds=settings.FEDERATION_MAX_SKEW)
    try:
        results = verifier.verify(
            _Message(method, url, headers),
            max_age=None,
            expect_tag=SIGNATURE_TAG,
            expect_label=SIGNATURE_LABEL,
            require_components=required,
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        if resolver.unknown_key_id is not None:
            raise SignatureRejected(
                f"Unknown signing key {resolver.unknown_key_id!r}: this lab does not know it or no longer trusts it.",
                code="unknown_key",
            ) from exc
        raise SignatureRejected(f"Bad signature: {exc}", code="bad_signature") from exc
    try:
        if not ContentDigest.verify_components(results[0].covered_components, body):
            raise SignatureRejected("The signature does not cover Content-Digest.", code="bad_signature")
    except InvalidSignature as exc:
        raise SignatureRejected(
            "Content-Digest does not match the body: the body was changed after signing.",
            code="digest_mismatch",
        ) from exc
    return VerifiedSignature(key_id=params["keyid"], nonce=params["nonce"], created=created, expires=expires)
