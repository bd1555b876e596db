"""Project-level pages."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Staff land on the fleet board, everyone else on their jobs (the admin stays linked in the header)."""
    return redirect("fleet:board" if request.user.is_staff else "jobs:list")


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login form is the lab's login page (it keeps where to go next)."""
    next_url = request.GET.get("next") or "/admin/"
    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': next_url})}")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by e-mail; the message names the lab (read per request, as settings may change)."""

    @property
    def extra_email_context(self) -> dict:
        return {"lab_name": settings.MES_SITE_NAME}
