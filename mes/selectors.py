"""Reads for the project-wide models."""

from __future__ import annotations

import hmac

from mes.models import ApiToken, token_digest


def api_token_for_raw(*, raw: str) -> ApiToken | None:
    """Find the token for a presented string; the digest compare is constant-time."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "mes":
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.digest, token_digest(raw)):
        return None
    return token
