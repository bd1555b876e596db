"""Per-caller limits on writes: a runaway script or a stolen token cannot flood the lab."""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from mes.models import ApiToken


class WriteRateThrottle(SimpleRateThrottle):
    """API_WRITE_RATE (e.g. ``300/minute``) per API token, else per user, else per client address.
    Reads are not limited; Retry-After says when to try again."""

    scope = "writes"

    def get_rate(self) -> str | None:
        return settings.API_WRITE_RATE or None

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated and getattr(request.user, "pk", None):
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
