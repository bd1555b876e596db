"""A machine's page for lab staff (/machines/<id>/): the fleet card's live state and controls, its
camera, the jobs it printed, its recent events, what the driver reports and its settings. Reads in
jobs.machine_page; the camera picture is fetched by machines.camera and served from here, so the
camera is never exposed to browsers."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from jobs.machine_page import camera_visible_to, machine_page
from jobs.states import STATE_COLOURS
from jobs.views import JOG_STEPS, staff_required
from machines.camera import CameraUnavailable, machine_snapshot, placeholder_svg
from machines.models import MachineConfig
from machines.registry import get_registry

logger = logging.getLogger(__name__)
# How often the page asks for a new picture (milliseconds; camera.js).
CAMERA_REFRESH_MS = 5000


def _context(machine_id: uuid.UUID) -> dict:
    page = machine_page(machine_id)
    for job in page.history:
        job.state_colour = STATE_COLOURS.get(job.state, "secondary")
    here = reverse("machine:detail", args=[machine_id])
    return {
        "page": page,
        "card": page.card,
        "presets": settings.MACHINES_PREHEAT_PRESETS,
        "jog_steps": JOG_STEPS,
        "fleet_url": here,  # the job's buttons come back here
        "return_to": here,  # and so do the controls, maintenance and bed-cleared forms
        "camera_refresh_ms": CAMERA_REFRESH_MS,
    }


@require_GET
@staff_required
def machine_detail(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    return render(request, "fleet/machine.html", _context(machine_id))


@require_GET
@staff_required
def machine_fragment(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    return render(request, "fleet/_machine_live.html", _context(machine_id))


@require_GET
@login_required
def machine_camera(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    """The machine's camera picture now, fetched server-side (staff, or the owner of the job on it;
    404 for anyone else, as for other people's jobs).

    Never cached (no-store). When there is no picture (no camera, camera down, too slow, not an image)
    the answer is 503 with a placeholder picture that says why, so the page shows the reason."""
    config = get_object_or_404(MachineConfig, pk=machine_id)
    if not camera_visible_to(user=request.user, machine_id=config.pk):
        raise Http404("A machine's camera is for lab staff and for the owner of the job on it.")
    machine = get_registry().get_machine(config.pk)
    try:
        if machine is None:
            raise CameraUnavailable("the machine is not running in Lab MES (inactive?)")
        snapshot = machine_snapshot(machine)
    except CameraUnavailable as exc:
        reason = str(exc)
        logger.debug("camera of %s: %s", config.name, reason)
        response = HttpResponse(placeholder_svg(reason), content_type="image/svg+xml", status=503)
        response["X-Camera-Error"] = reason.encode("ascii", "replace").decode()[:300]
        response["Retry-After"] = str(CAMERA_REFRESH_MS // 1000)
    else:
        response = HttpResponse(snapshot.content, content_type=snapshot.content_type)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
