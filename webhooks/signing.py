"""The delivery signature: ``MES-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

The scheme is Stripe's (a timestamp in the signed text stops replays of old deliveries); docs/webhooks.md
shows the receiver side. ``hmac.compare_digest`` keeps the comparison constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "MES-Signature"
TOLERANCE_SECONDS = 300


def sign(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(*, secret: str, body: bytes, header: str, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does (also used by the tests): right secret, body unchanged, fresh timestamp."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
