"""API tokens for programs: stored hashed, scoped and expiring."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

# Scopes a token can carry. "<area>:read" allows safe methods, "<area>:write" allows writes too.
TOKEN_SCOPES = [
    ("account:read", "Read the caller's own account and tokens"),
    ("account:write", "Revoke the caller's own tokens"),
    ("machines:read", "Read machines and their live state"),
    ("machines:write", "Create, change and restart machines"),
    ("plugins:read", "Read plugins and registry errors"),
    ("plugins:write", "Activate and deactivate plugins"),
    ("jobs:read", "Read jobs, the queue and history"),
    ("jobs:write", "Submit, change and cancel jobs"),
    ("materials:read", "Read materials, spools and stock"),
    ("materials:write", "Manage materials and spools, load and unload them"),
    ("policies:read", "Read trainings, opening hours, closures and your own records and quotas"),
    ("policies:write", "Manage trainings and their records, opening hours, closures and quotas (staff)"),
    ("maintenance:read", "Read maintenance plans, counters and reports"),
    ("maintenance:write", "Manage maintenance plans, mode, work done and reports"),
    ("federation:read", "Read federation partners"),
    ("federation:write", "Manage federation partners"),
    ("webhooks:read", "Read webhook endpoints and deliveries (staff)"),
    ("webhooks:write", "Manage webhook endpoints and redeliver (staff)"),
    ("notifications:read", "Read the caller's own notifications"),
    ("notifications:write", "Mark notifications read, change preferences"),
    ("*", "Everything the token's user may do"),
]
TOKEN_SCOPE_NAMES = [name for name, _ in TOKEN_SCOPES]


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token. Only a lookup prefix and a SHA-256 digest are stored, never the token itself."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'camera script'.")
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Scopes such as machines:read or jobs:write.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="Tokens always expire.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def allows(self, scope: str) -> bool:
        """A write scope implies the matching read scope."""
        if "*" in self.scopes or scope in self.scopes:
            return True
        area, _, access = scope.partition(":")
        return access == "read" and f"{area}:write" in self.scopes


class Lease(models.Model):
    """An expiring claim on a resource (e.g. ``machine:<uuid>``) for the embedded default; see mes.leases."""

    key = models.CharField(max_length=200, primary_key=True)
    owner = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} → {self.owner}"
