"""The public ETA board at /board/: what prints now and when each waiting job will start and finish, for
a screen in the lab's hallway. No login; no personal data beyond an owner's first name (or an
anonymous tag when there is none): no usernames, job or file names, quotas. Refreshed live by
mes/static/mes/live.js from /board/live/."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.estimates import job_estimates
from jobs.models import Job
from jobs.selectors import queue_jobs
from jobs.states import RUNNING_STATES

BOARD_WAITING_SHOWN = 30


def owner_label(user) -> str:
    """The owner as the board shows them: first name, else an anonymous tag stable per user."""
    if user is None:
        return "walk-in"
    first = (user.first_name or "").strip().split(" ")[0]
    if first:
        return first
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:board:{user.pk}".encode()).hexdigest()[:4].upper()
    return f"Student {digest}"


def public_note(note: str) -> str:
    """Notes that would reveal someone's quota are shown as a plain "waiting"."""
    return "waiting" if "quota" in note else note


def _board_context() -> dict:
    now = timezone.now()
    running = list(
        Job.objects.filter(state__in=RUNNING_STATES).select_related("owner", "machine").order_by("started_at")
    )
    waiting = list(queue_jobs().select_related("owner")[: BOARD_WAITING_SHOWN * 3])
    estimates = job_estimates(jobs=[*running, *waiting])
    rows = []
    for index, job in enumerate(waiting):
        estimate = estimates.get(job.pk)
        rows.append(
            {
                "ref": str(job.pk)[:4].upper(),
                "owner": owner_label(job.owner),
                "place": index + 1,
                "start": estimate.start if estimate else None,
                "finish": estimate.finish if estimate else None,
                "machine": estimate.machine_name if estimate else "",
                "note": public_note(estimate.note) if estimate else "",
            }
        )
    far = timezone.now() + timezone.timedelta(days=3650)
    rows.sort(key=lambda r: (r["start"] or far, r["place"]))
    printing = [
        {
            "machine": job.machine.name if job.machine else "",
            "owner": owner_label(job.owner),
            "ref": str(job.pk)[:4].upper(),
            "progress": estimates[job.pk].progress if job.pk in estimates else None,
            "finish": estimates[job.pk].finish if job.pk in estimates else None,
        }
        for job in running
    ]
    return {
        "printing": printing,
        "waiting": rows[:BOARD_WAITING_SHOWN],
        "now": now,
        "lab_name": settings.MES_SITE_NAME,
    }


@require_GET
def board(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/board.html", _board_context())


@require_GET
def board_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/_board.html", _board_context())
