"""One job's page, /jobs/<id>/ (owner or staff; 404 for anyone else): its facts, live state, progress,
forecast and controls, the timeline of every step with who took it, what the pre-flight found, the
slicer's preview, and the camera of the machine while it prints there. Reads in jobs.job_page."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.estimates import job_estimates
from jobs.job_page import job_preflight, job_shows_camera, job_timeline
from jobs.machine_views import CAMERA_REFRESH_MS
from jobs.states import STATE_COLOURS
from materials.selectors import deductions_for_job

# How often the live part of the page refreshes (milliseconds; mes/static/mes/live.js).
LIVE_INTERVAL_MS = 3000


def _context(request: HttpRequest, pk: uuid.UUID) -> dict:
    job = get_object_or_404(
        selectors.job_list_visible(user=request.user).select_related("owner", "machine"), pk=pk
    )
    job.state_colour = STATE_COLOURS.get(job.state, "secondary")
    controls = selectors.job_controls(job=job)
    job.can_pause, job.can_resume, job.can_cancel = (
        controls.can_pause,
        controls.can_resume,
        controls.can_cancel,
    )
    job.waiting_reason = selectors.queue_waiting_reasons(jobs=[job]).get(job.pk, "")
    job.estimate = job_estimates(jobs=[job]).get(job.pk)
    estimated = job.estimate.progress if job.estimate is not None else None
    return {
        "job": job,
        "progress": estimated if estimated is not None else job.progress,
        "timeline": job_timeline(job),
        "need": (job.metadata or {}).get("filament_need") or {},
        "deductions": list(deductions_for_job(job.pk).select_related("spool__material")),
        "next_url": reverse("jobs:detail", args=[job.pk]),  # the buttons come back to this page
        "camera": job_shows_camera(job),
        "camera_refresh_ms": CAMERA_REFRESH_MS,
        "live_interval_ms": LIVE_INTERVAL_MS,
    }


@require_GET
@login_required
def job_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    context = _context(request, pk)
    context["preflight"] = job_preflight(context["job"])
    return render(request, "jobs/detail.html", context)


@require_GET
@login_required
def job_detail_fragment(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The live part: state, progress, forecast, controls and timeline (204 when unchanged)."""
    return render(request, "jobs/_detail_live.html", _context(request, pk))
