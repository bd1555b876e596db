"""Writes for the project-wide models (API tokens)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from mes.models import TOKEN_SCOPE_NAMES, ApiToken, token_digest

TOKEN_PREFIX = "mes"  # noqa: S105 - a public marker, not a secret
MAX_TOKEN_LIFETIME = timedelta(days=366)


def api_token_create(
    *, user: AbstractBaseUser, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plain text, which is shown once and never stored."""
    unknown = sorted(set(scopes) - set(TOKEN_SCOPE_NAMES))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scopes {unknown}; valid scopes are {TOKEN_SCOPE_NAMES}"})
    if not scopes:
        raise ValidationError({"scopes": "A token needs at least one scope."})
    now = timezone.now()
    expires_at = expires_at or now + timedelta(days=90)
    if expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if expires_at - now > MAX_TOKEN_LIFETIME:
        raise ValidationError({"expires_at": "Tokens may live at most one year."})
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=token_digest(raw),
        scopes=list(scopes),
        expires_at=expires_at,
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
