"""Replay protection: each (key id, nonce) is accepted once while its signature could still verify."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from federation.models import SeenNonce
from federation.signing import SignatureRejected, VerifiedSignature

# Kept a little longer than the signature could be accepted, so a late replay still finds it.
RETENTION_MARGIN = dt.timedelta(minutes=10)


def nonce_record(*, signature: VerifiedSignature) -> None:
    """Remember the nonce, or raise SignatureRejected (409) when it was seen before."""
    try:
        with transaction.atomic():
            SeenNonce.objects.create(
                key_id=signature.key_id[:120],
                nonce=signature.nonce[:120],
                expires_at=signature.expires + RETENTION_MARGIN,
            )
    except IntegrityError as exc:
        raise SignatureRejected(
            "This signature's nonce was used before: the request is a replay and was refused.",
            status=409,
            code="replayed_request",
        ) from exc


def nonce_cleanup(*, now: dt.datetime | None = None) -> int:
    """Forget nonces whose signatures expired long ago; returns how many were deleted."""
    deleted, _ = SeenNonce.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
