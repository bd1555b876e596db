"""The submit page: upload one file or several, see the pre-flight of each, then confirm (or cancel).

1. ``POST /jobs/submit/`` checks every file (``jobs.services.staging.staged_uploads_create``). A file
   that passes is stored once as a preview (``StagedUpload``); one that fails is listed with its reasons
   and not kept. ``mes/static/mes/upload.js`` sends each file in its own request (its own progress bar;
   a file too large never costs the others) and gets back only that file's row
   (``jobs/_preview_rows.html``); without JavaScript the form posts every file at once and gets the page.
2. The page shows each preview: picture, estimated time, filament, the machines that fit and the
   earliest start (``jobs.preview``), with "Confirm" and "Cancel", and "Confirm all".
3. ``POST /jobs/submit/confirm/`` (``preview`` ids) turns previews into jobs; ``POST
   /jobs/submit/<id>/cancel/`` deletes one. Another user's preview is a 404, like another user's job.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import TooManyFilesSent
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.exceptions import JobValidationError, PreviewNotFound, UploadTooLarge
from jobs.forms import JobSubmitForm
from jobs.models import StagedUpload
from jobs.preview import Preview, refused_preview, staged_previews
from jobs.services import JobSpec
from jobs.services.staging import (
    staged_list,
    staged_upload_cancel,
    staged_uploads_confirm,
    staged_uploads_create,
)
from jobs.states import JobState
from jobs.uploads import binary_size, install_upload_handler, max_upload_bytes, too_many_files_message
from jobs.views import THUMBNAIL_TYPES, _quota_context

MAX_PAGE_FILES = 20  # files in one POST of the form (the script sends one file a request)


def _xhr(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _render_submit(
    request: HttpRequest,
    form: JobSubmitForm,
    *,
    results: list[Preview] = (),
    error: str = "",
    reasons=(),
    row_reasons: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page: the form, this request's refused files and every preview of the user."""
    previews = staged_previews(user=request.user, staged=staged_list(user=request.user))
    for preview in previews:
        preview.confirm_reasons = (row_reasons or {}).get(preview.id, [])
    context = {
        "form": form,
        "results": [r for r in results if not r.accepted],
        "previews": previews,
        "error": error,
        "reasons": list(reasons),
        "max_upload": binary_size(max_upload_bytes()),
        "max_upload_bytes": max_upload_bytes(),
        "preview_hours": settings.JOBS_PREVIEW_HOURS,
        **_quota_context(request.user),
    }
    return render(request, "jobs/submit.html", context, status=status)


def _render_rows(request: HttpRequest, rows: list[Preview], *, status: int) -> HttpResponse:
    """The script's answer: just this request's rows, to put where its progress bar was."""
    return render(request, "jobs/_preview_rows.html", {"rows": rows}, status=status)


def _error_row(name: str, message: str) -> Preview:
    return Preview(file_name=name, name=name, reasons=[message])


@csrf_exempt  # the upload handler must be installed before the CSRF check reads the body; see below
@require_http_methods(["GET", "POST"])
@login_required
def job_submit(request: HttpRequest) -> HttpResponse:
    """Upload and check. The body is streamed to disk and hashed as it arrives (jobs.uploads), so the
    handler is installed first and the CSRF check then runs in ``_job_submit`` (Django's documented
    pattern for custom upload handlers)."""
    handler = None
    if request.method == "POST":
        handler = install_upload_handler(request, max_files=MAX_PAGE_FILES, skip_oversized=True)
    try:
        return _job_submit(request, handler)
    except (UploadTooLarge, TooManyFilesSent) as exc:
        if isinstance(exc, TooManyFilesSent):  # Django's own count (DATA_UPLOAD_MAX_NUMBER_FILES)
            exc = UploadTooLarge(too_many_files_message(MAX_PAGE_FILES), limit=MAX_PAGE_FILES)
        if _xhr(request):
            return _render_rows(request, [_error_row("", exc.message)], status=exc.status_code)
        return _render_submit(request, JobSubmitForm(), error=exc.message, status=exc.status_code)


@csrf_protect
def _job_submit(request: HttpRequest, handler) -> HttpResponse:
    if request.method != "POST":
        return _render_submit(request, JobSubmitForm())
    form = JobSubmitForm(request.POST, request.FILES)
    skipped = list(handler.skipped) if handler is not None else []
    if not form.is_valid():
        if skipped and list(form.errors) == ["file"]:  # every file was too large: say so per file
            form.errors.pop("file")
        else:
            if _xhr(request):
                message = "; ".join(
                    f"{form.fields[name].label if name in form.fields else 'Form'}: {' '.join(errors)}"
                    for name, errors in form.errors.items()
                )
                return _render_rows(
                    request, [_error_row("", f"Please correct the form. {message}")], status=400
                )
            return _render_submit(request, form, error="Please correct the form.", status=400)
    data = form.cleaned_data
    files = data.get("file") or []
    constraints = form.constraints()
    name = data["name"] if len(files) == 1 else ""
    specs = [JobSpec(file=f, name=name, notes=data["notes"], constraints=constraints) for f in files]
    outcomes = staged_uploads_create(user=request.user, specs=specs, skipped=skipped)
    cache: dict = {}
    refused = [refused_preview(o, machines_cache=cache) for o in outcomes if o.staged is None]
    accepted = [o.staged for o in outcomes if o.staged is not None]
    status = 200 if accepted else 400
    if _xhr(request):
        rows = staged_previews(user=request.user, staged=staged_list(user=request.user)) if accepted else []
        new = {staged.id for staged in accepted}
        return _render_rows(request, [r for r in rows if r.id in new] + refused, status=status)
    if not accepted:
        error = "The job was not accepted." if len(outcomes) == 1 else "No file was accepted."
        return _render_submit(request, form, results=refused, error=error, status=status)
    return _render_submit(request, JobSubmitForm(initial=_kept(data)), results=refused, status=status)


def _kept(data: dict) -> dict:
    """The form's choices for the next upload (not the name, which belonged to the file)."""
    keep = ("machine_type", "material", "colour", "nozzle_diameter", "notes")
    return {key: data.get(key) for key in keep} | {"tags": ", ".join(data.get("tags") or ())}


def _preview_ids(request: HttpRequest) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(value) for value in request.POST.getlist("preview")]
    except ValueError as exc:
        raise Http404("no such preview") from exc


@require_POST
@login_required
def preview_confirm(request: HttpRequest) -> HttpResponse:
    """Confirm one preview or several ("Confirm all"): jobs, then "my jobs". A refusal (the quota or the
    machines changed since the upload) shows the page again with the reasons; the previews stay."""
    ids = _preview_ids(request)
    if not ids:
        return _render_submit(request, JobSubmitForm(), error="Choose a file to confirm.", status=400)
    try:
        jobs = staged_uploads_confirm(user=request.user, ids=ids)
    except PreviewNotFound as exc:
        raise Http404(exc.message) from exc
    except JobValidationError as exc:
        order = [s.id for s in staged_list(user=request.user) if s.id in set(ids)]
        row_reasons = {}
        for item in exc.extra.get("items") or []:
            if not item["success"] and item["index"] < len(order):
                row_reasons[order[item["index"]]] = item["reasons"]
        if not row_reasons and order:
            row_reasons[order[0]] = exc.extra.get("reasons") or []
        message = exc.message[:1].upper() + exc.message[1:] + "."
        return _render_submit(request, JobSubmitForm(), error=message, row_reasons=row_reasons, status=400)
    approval = jobs[0].state == JobState.AWAITING_APPROVAL
    if len(jobs) == 1:
        state = "waits for staff approval" if approval else "is in the queue"
        messages.success(request, f"{jobs[0].name} was submitted and {state}.")
    else:
        state = "wait for staff approval" if approval else "are in the queue"
        names = ", ".join(job.name for job in jobs)
        messages.success(request, f"{len(jobs)} jobs were submitted and {state}: {names}.")
    response = HttpResponseRedirect(f"{reverse('jobs:list')}#job-{jobs[0].pk}")
    response.status_code = 303  # See Other: the browser GETs "my jobs"
    return response


@require_POST
@login_required
def preview_cancel(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Delete the preview and its file (the script removes the row; a plain post comes back here)."""
    try:
        staged_upload_cancel(user=request.user, staged_id=pk)
    except PreviewNotFound as exc:
        raise Http404(exc.message) from exc
    if _xhr(request):
        return HttpResponse(status=204)
    messages.info(request, "The file was removed.")
    response = HttpResponseRedirect(reverse("jobs:submit"))
    response.status_code = 303
    return response


@require_GET
@login_required
def preview_thumbnail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The slicer's picture of one of the user's previews (404 for anyone else's)."""
    staged = StagedUpload.objects.filter(owner=request.user, pk=pk).exclude(thumbnail="").first()
    content_type = THUMBNAIL_TYPES.get(PurePath(staged.thumbnail.name).suffix.lower()) if staged else None
    if content_type is None:
        raise Http404("no such preview picture")
    try:
        response = FileResponse(staged.thumbnail.open("rb"), content_type=content_type)
    except FileNotFoundError as exc:
        raise Http404("the picture is gone") from exc
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
