"""Single sign-on through the university's OpenID Connect provider (mozilla-django-oidc), off by default.

Users are matched by e-mail; a new one gets the e-mail as username and their names from the claims.
Members of ``OIDC_STAFF_GROUP`` (in the ``OIDC_GROUPS_CLAIM`` claim) become lab staff; the group is
re-read at every login, so removing someone at the provider removes their staff rights here too.
"""

from __future__ import annotations

from django.conf import settings
from mozilla_django_oidc.auth import OIDCAuthenticationBackend


def username_for(email: str) -> str:
    """The username of a user created at their first single sign-on: their e-mail address."""
    return email[:150]


class LabOIDCBackend(OIDCAuthenticationBackend):
    def _apply_claims(self, user, claims: dict):
        user.first_name = str(claims.get("given_name", user.first_name))[:150]
        user.last_name = str(claims.get("family_name", user.last_name))[:150]
        if settings.OIDC_STAFF_GROUP:
            groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
            user.is_staff = settings.OIDC_STAFF_GROUP in groups
        user.save()
        return user

    def create_user(self, claims: dict):
        return self._apply_claims(super().create_user(claims), claims)

    def update_user(self, user, claims: dict):
        return self._apply_claims(user, claims)
