"""A machine's page for lab staff (/machines/<id>/): the fleet card's live state and controls, the jobs
it printed, its recent events, what the driver reports and its settings. Reads in jobs.machine_page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from jobs.machine_page import machine_page
from jobs.views import JOG_STEPS, STATE_COLOURS, staff_required


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
    }


@require_GET
@staff_required
def machine_detail(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    return render(request, "fleet/machine.html", _context(machine_id))


@require_GET
@staff_required
def machine_fragment(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    return render(request, "fleet/_machine_live.html", _context(machine_id))
