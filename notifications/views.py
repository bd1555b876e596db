"""Pages: the person's notifications (newest first), the header badge fragment, preferences."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from notifications.selectors import notification_list, preference_rows, unread_count
from notifications.services import notifications_mark_read, preferences_set


@login_required
def notification_page(request: HttpRequest) -> HttpResponse:
    page = Paginator(notification_list(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page})


@login_required
def notification_badge(request: HttpRequest) -> HttpResponse:
    return render(
        request, "notifications/_badge.html", {"unread_notifications": unread_count(user=request.user)}
    )


@login_required
@require_POST
def notification_mark_read(request: HttpRequest) -> HttpResponse:
    ids = [int(pk) for pk in request.POST.getlist("id") if pk.isdigit()] or None
    count = notifications_mark_read(user=request.user, ids=ids)
    messages.success(request, f"{count} notification(s) marked read.")
    return redirect("notifications:list")


@login_required
def preference_page(request: HttpRequest) -> HttpResponse:
    rows = preference_rows(user=request.user)
    if request.method == "POST":
        choices = {
            row["type"]: (f"in_app:{row['type']}" in request.POST, f"email:{row['type']}" in request.POST)
            for row in rows
        }
        preferences_set(user=request.user, choices=choices)
        messages.success(request, "Your notification settings were saved.")
        return redirect("notifications:preferences")
    return render(
        request, "notifications/preferences.html", {"rows": rows, "has_email": bool(request.user.email)}
    )
