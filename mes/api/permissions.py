"""Scope checks for token-authenticated requests."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from mes.models import ApiToken


class TokenHasScope(BasePermission):
    """A view declares ``scope_area`` (e.g. "machines"); tokens need ``<area>:read`` or ``<area>:write``.

    Session users are not limited by scopes; views without an area accept any valid token.
    """

    message = "This API token lacks the scope this request needs."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        area = getattr(view, "scope_area", None)
        if area is None:
            return True
        scope = f"{area}:{'read' if request.method in SAFE_METHODS else 'write'}"
        self.message = f"This API token lacks the scope {scope!r}."
        return token.allows(scope)


class IsStaffOrReadOnly(BasePermission):
    message = "Only lab staff may change this."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class IsStaff(BasePermission):
    """Staff-only endpoints refuse others before reading the body (a 403, not a 400 about it)."""

    message = "Only lab staff may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff)
