"""Server-rendered pages: my jobs (live), the staff fleet board (live); submitting is jobs/submit_views.py,
one job's page jobs/job_views.py.

Views translate HTTP into service and selector calls; every rule lives in jobs.services. Live parts are
fragments that mes/static/mes/live.js re-fetches (elements with ``data-live-url``).
"""

from __future__ import annotations

import functools
import uuid
from pathlib import PurePath

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors, services
from jobs.estimates import job_estimates
from jobs.exceptions import JobError
from jobs.fleet import (
    FleetFilter,
    fleet_cards,
    fleet_filter_choices,
    machines_awaiting_bed_clear,
    queue_summary,
)
from jobs.fleet_live import fleet_live_response
from jobs.remote import remote_runs
from jobs.services.bed import machine_bed_clear
from jobs.states import STATE_COLOURS, JobState
from machines.controls import ControlRefused, machine_control
from machines.models import MachineConfig
from machines.selectors import machine_list
from maintenance.services import MaintenanceError, maintenance_end, maintenance_start, out_of_order_report
from policies.selectors import quotas_left

# The jog buttons of the card's Controls menu (axis, mm).
JOG_STEPS = [("x", -10), ("x", 10), ("y", -10), ("y", 10), ("z", -1), ("z", 1)]
# The page shows at most this many waiting jobs (staff see the whole farm's queue).
WAITING_SHOWN = 200
HISTORY_SHOWN = 20
CONTROLS = {
    "pause": services.job_request_pause,
    "resume": services.job_request_resume,
    "cancel": services.job_request_cancel,
}


def _set_controls(job) -> None:
    """The buttons templates/jobs/_controls.html shows (the API's ``controls`` come from the same selector)."""
    controls = selectors.job_controls(job=job)
    job.can_pause, job.can_resume, job.can_cancel = (
        controls.can_pause,
        controls.can_resume,
        controls.can_cancel,
    )


def staff_required(view):
    """Anonymous users go to the login page; logged-in non-staff get 403."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("The fleet board is for lab staff.")
        return view(request, *args, **kwargs)

    return wrapper


# -- my jobs -----------------------------------------------------------------------------------------
def _jobs_context(request: HttpRequest) -> dict:
    user = request.user
    waiting = list(selectors.queue_list(user=user)[:WAITING_SHOWN])
    active = list(selectors.running_list(user=user))
    history = list(selectors.history_list(user=user)[:HISTORY_SHOWN])
    estimates = job_estimates(jobs=[*waiting, *active])
    waiting_reasons = selectors.queue_waiting_reasons(jobs=waiting)
    for job in waiting:
        job.waiting_reason = waiting_reasons.get(job.pk, "")
    for job in [*waiting, *active]:
        job.estimate = estimates.get(job.pk)
    # Jobs forwarded to a partner lab show that lab's last reported state and progress too.
    runs = remote_runs(job_ids=[job.pk for job in [*waiting, *active, *history]])
    for job in [*waiting, *active, *history]:
        job.remote = runs.get(job.pk)
        job.state_colour = STATE_COLOURS.get(job.state, "secondary")
        _set_controls(job)
    # The student's last print on a machine that waits for its plate to be cleared: they may confirm it.
    last_on_machine: dict = {}
    for job in history:
        if job.machine_id and job.started_at and job.machine_id not in last_on_machine:
            last_on_machine[job.machine_id] = job
    for machine in machines_awaiting_bed_clear(machine_ids=list(last_on_machine)):
        last_on_machine[machine.pk].bed_clear_machine = machine
    return {
        "waiting": waiting,
        "active": active,
        "history": history,
        "queue": selectors.queue_state_get(),
        "show_owner": user.is_staff,
        "waiting_limit": WAITING_SHOWN,
    }


def _quota_context(user) -> dict:
    """What is left of the user's print quotas (counting their waiting jobs), one line each."""
    quotas = quotas_left(user_ids=[user.pk], include_waiting=True).get(user.pk, [])
    return {"quota_left": [quota.describe() for quota in quotas]}


def _render_jobs(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    context = _jobs_context(request) | _quota_context(request.user)
    return render(request, "jobs/list.html", context, status=status)


@require_GET
@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    return _render_jobs(request)


@require_GET
@login_required
def job_list_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/_list.html", _jobs_context(request))


THUMBNAIL_TYPES = {".png": "image/png", ".jpg": "image/jpeg"}


@require_GET
@login_required
def job_thumbnail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The slicer's picture of a job (owner or staff; 404 for others and for a job without one).

    Private caching: the picture never changes once the job exists, so the browser keeps it for a day
    and revalidates with its ETag; shared caches never store it."""
    job = get_object_or_404(selectors.job_list_visible(user=request.user).exclude(thumbnail=""), pk=pk)
    content_type = THUMBNAIL_TYPES.get(PurePath(job.thumbnail.name).suffix.lower())
    if content_type is None:
        raise Http404("no thumbnail")
    etag = f'"{job.pk.hex}-{job.sha256[:16]}"'
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        try:
            response = FileResponse(job.thumbnail.open("rb"), content_type=content_type)
        except FileNotFoundError as exc:
            raise Http404("the thumbnail file is gone") from exc
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    patch_vary_headers(response, ["Cookie"])
    return response


@require_POST
@login_required
def job_control(request: HttpRequest, pk: uuid.UUID, action: str) -> HttpResponse:
    """Pause, resume or cancel through the same services as the API; refusals are shown with their 4xx."""
    job = get_object_or_404(selectors.job_list_visible(user=request.user), pk=pk)
    try:
        changed = CONTROLS[action](job=job, user=request.user, reason=f"{action} from the jobs page")
    except JobError as exc:
        messages.error(request, f"Could not {action} {job.name}: {exc.message}")
        if request.user.is_staff and _next_url(request).partition("?")[0] == reverse("fleet:board"):
            return fleet_board_response(request, status=exc.status_code)
        return _render_jobs(request, status=exc.status_code)
    if changed.state == JobState.CANCELLED:
        messages.success(request, f"{job.name}: cancelled.")
    else:
        messages.success(request, f"{job.name}: {action} requested; the machine will follow shortly.")
    return redirect(_next_url(request) or reverse("jobs:list"))


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return ""


# -- fleet board -------------------------------------------------------------------------------------
# Machines a page: the compact table view (/fleet/?view=table) and the cards. A card is ~8 KB (its
# Controls and Maintenance menus), so a lab of 1000 printers gets pages of cards instead of one 8 MB
# page, and each live refresh builds and fingerprints only the page's cards.
FLEET_TABLE_PAGE = 100
FLEET_CARD_PAGE = 48  # two, three, four or six columns fill every row


def _page_numbers(page) -> list[int | None]:
    """The page links to show: the first, the last and two around the current one (None: a gap)."""
    last = page.paginator.num_pages
    wanted = sorted({1, last, *range(max(1, page.number - 2), min(last, page.number + 2) + 1)})
    numbers: list[int | None] = []
    for number in wanted:
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def _fleet_context(request: HttpRequest, *, fragment: bool = False) -> dict:
    filters = FleetFilter.from_query(request.GET)
    table = request.GET.get("view") == "table"
    per_page = FLEET_TABLE_PAGE if table else FLEET_CARD_PAGE
    every_card = None
    if fragment and not filters.active:
        # The live refresh without filters: the page's machines alone (a count and a slice) and their
        # cards; the filter choices, which need every card, are on the full page only.
        page = Paginator(machine_list(), per_page).get_page(request.GET.get("page"))
        shown = fleet_cards(list(page.object_list))
        fleet_size = matching = page.paginator.count
    else:
        every_card = fleet_cards()
        found = [card for card in every_card if filters.matches(card)]
        page = Paginator(found, per_page).get_page(request.GET.get("page"))
        shown = list(page.object_list)
        fleet_size, matching = len(every_card), len(found)
    return {
        "cards": shown,
        "matching": matching,
        "table": table,
        "page": page,
        "page_number": page.number,
        "page_numbers": _page_numbers(page),
        "fleet_size": fleet_size,
        "filters": filters,
        # Where the card's buttons come back to: the board with the same filters.
        "fleet_url": reverse("fleet:board") + (f"?{request.GET.urlencode()}" if filters.active else ""),
        "choices": fleet_filter_choices(every_card) if every_card is not None and not fragment else {},
        "summary": queue_summary(),
        "presets": settings.MACHINES_PREHEAT_PRESETS,
        "jog_steps": JOG_STEPS,
    }


def fleet_board_response(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    return render(request, "fleet/board.html", _fleet_context(request), status=status)


def _availability_context() -> dict:
    cards = fleet_cards()
    return {"cards": cards, "free": sum(card.availability == "free" for card in cards)}


@require_GET
@login_required
def fleet_board(request: HttpRequest) -> HttpResponse:
    """Staff get the board with jobs and controls; everyone else sees which printers are free."""
    if not request.user.is_staff:
        return render(request, "fleet/availability.html", _availability_context())
    return fleet_board_response(request)


@require_GET
@login_required
def fleet_fragment(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        return render(request, "fleet/_availability.html", _availability_context())
    return fleet_live_response(request, _fleet_context(request, fragment=True))


@require_POST
@staff_required
def fleet_bed_cleared(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    """Staff confirm the plate was removed: the machine may take the next job."""
    done = _next_url(request) or reverse("fleet:board")
    return _bed_cleared(request, machine_id, done=done, page=fleet_board_response)


@require_POST
@staff_required
def fleet_machine_control(request: HttpRequest, machine_id: uuid.UUID, control: str) -> HttpResponse:
    """A button of the card's Controls menu: the same service as the API (checked, audited)."""
    params = {key: value for key, value in request.POST.items() if key not in {"csrfmiddlewaretoken", "next"}}
    if "axes" in request.POST:
        params["axes"] = request.POST.getlist("axes")
    machine = get_object_or_404(MachineConfig, pk=machine_id)
    try:
        result = machine_control(machine_id=machine.pk, control=control, params=params, user=request.user)
    except ControlRefused as exc:
        messages.error(request, f"{machine.name}: {exc.message}")
        return fleet_board_response(request, status=exc.status_code)
    messages.success(request, f"{machine.name}: {result.message}.")
    return redirect(_next_url(request) or "fleet:board")


@require_POST
@login_required
def job_bed_cleared(request: HttpRequest, machine_id: uuid.UUID) -> HttpResponse:
    """The student whose print ended on the machine confirms they took it off (the service checks who)."""
    return _bed_cleared(request, machine_id, done=reverse("jobs:list"), page=_render_jobs)


def _bed_cleared(request: HttpRequest, machine_id: uuid.UUID, *, done: str, page) -> HttpResponse:
    machine = get_object_or_404(MachineConfig, pk=machine_id)
    try:
        machine_bed_clear(machine_id=machine.pk, user=request.user)
    except JobError as exc:
        messages.error(request, f"{machine.name}: {exc.message}")
        return page(request, status=exc.status_code)
    messages.success(request, f"{machine.name}: bed cleared, ready for the next job.")
    return redirect(done)


# -- maintenance from the fleet board ---------------------------------------------------------------
MAINTENANCE_ACTIONS = {
    "start": lambda machine, user, reason: maintenance_start(machine=machine, reason=reason, user=user),
    "end": lambda machine, user, reason: maintenance_end(machine=machine, user=user),
    "out-of-order": lambda machine, user, reason: out_of_order_report(
        machine=machine, reason=reason, user=user
    ),
}
MAINTENANCE_DONE = {
    "start": "is in maintenance; a running print finishes first",
    "end": "is back in service",
    "out-of-order": "is reported out of order and in maintenance",
}


@require_POST
@staff_required
def fleet_maintenance(request: HttpRequest, machine_id: uuid.UUID, action: str) -> HttpResponse:
    """Staff take a machine out of scheduling (or back), or report it out of order, from its card."""
    machine = get_object_or_404(MachineConfig, pk=machine_id)
    if action not in MAINTENANCE_ACTIONS:
        raise Http404(f"unknown maintenance action {action!r}")
    try:
        MAINTENANCE_ACTIONS[action](machine, request.user, request.POST.get("reason", ""))
    except MaintenanceError as exc:
        messages.error(request, f"{machine.name}: {exc.message}")
        return fleet_board_response(request, status=exc.status_code)
    messages.success(request, f"{machine.name} {MAINTENANCE_DONE[action]}.")
    return redirect(_next_url(request) or "fleet:board")
