"""What every page needs to look like the lab's: its name, its logo, and whether single sign-on is on."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.templatetags.static import static


def logo_url() -> str:
    configured = settings.MES_LOGO_URL
    if configured.startswith(("https://", "http://", "/")):
        return configured
    return static(configured)


def site(request: HttpRequest) -> dict:
    return {
        "lab_name": settings.MES_SITE_NAME,
        "lab_logo": logo_url(),
        "oidc_enabled": settings.OIDC_ENABLED,
        "oidc_login_label": settings.OIDC_LOGIN_LABEL,
    }
