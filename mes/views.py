"""Project-level pages."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Staff land on the fleet board, everyone else on their jobs (the admin stays linked in the header)."""
    return redirect("fleet:board" if request.user.is_staff else "jobs:list")
