"""Checked uploads that wait for "Confirm" (the submit page's preview): stage, confirm, cancel, purge.

The submit page checks a file first and shows what the lab would do with it (time, filament, machines,
earliest start) before any job exists. A file that passes is stored once, as a ``StagedUpload`` under
``staged/``; "Confirm" turns it into a job through ``job_submit`` (every check again: the queue, the
quota or the machines may have changed meanwhile), deleting the row in the same transaction and its
files after the commit. A file that fails is not stored at all. What is never confirmed is deleted by
``staged_uploads_purge`` (periodic, ``JOBS_PREVIEW_HOURS``), which also removes files under ``staged/``
that no row names (a process killed between storing a file and its row).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from jobs.exceptions import JobValidationError, PreviewNotFound
from jobs.models import Job, StagedUpload
from jobs.policy import estimated_seconds, need_grams, submission_policies
from jobs.preflight import JobConstraints
from jobs.services.submit import JobSpec, _record_refusal, job_submit, job_submit_batch, job_validate
from jobs.states import ActorKind
from policies.selectors import Usage

logger = logging.getLogger(__name__)

STAGED_DIR = "staged"
MAX_PREVIEWS = 50  # a student's checked files waiting for Confirm (each up to JOBS_MAX_UPLOAD_BYTES)


@dataclass
class StagingOutcome:
    """One uploaded file after its check: ``staged`` when it passed, else the ``reasons`` it did not."""

    spec: JobSpec
    reasons: list[str]
    staged: StagedUpload | None = None

    @property
    def name(self) -> str:
        return self.spec.file.name or ""


def staged_list(*, user) -> list[StagedUpload]:
    """The user's previews, oldest first (the order "Confirm all" queues them in)."""
    return list(StagedUpload.objects.filter(owner=user).order_by("created_at", "id"))


def _pending_usage(staged: list[StagedUpload]) -> Usage:
    """What the previews would add to the quotas once confirmed (they count before they are jobs)."""
    total = Usage()
    for item in staged:
        total = total + Usage(estimated_seconds(item.metadata), need_grams(item.metadata))
    return total


def staged_uploads_create(
    *, user, specs: list[JobSpec], skipped: list[tuple[str, str]] = ()
) -> list[StagingOutcome]:
    """Check each file as ``job_submit`` would (pre-flight and the lab's policies, counting the user's
    other previews against the quota) and keep the ones that pass as previews. No job is created; a
    refused file is recorded as a refusal event and not kept. ``skipped``: files the upload handler
    already refused (name, reason), reported in the same list."""
    existing = staged_list(user=user)
    room = MAX_PREVIEWS - len(existing)
    policies = submission_policies(user=user)
    policies.pending = _pending_usage(existing)
    candidates: dict = {}
    outcomes = []
    for spec in specs:
        reasons = job_validate(spec=spec, candidates=candidates, policies=policies)
        if not reasons and room <= 0:
            reasons = [f"{MAX_PREVIEWS} checked files already wait for Confirm: confirm or cancel some first"]
        if reasons:
            _record_refusal(user=user, actor_kind=ActorKind.USER, name=spec.file.name or "", reasons=reasons)
            outcomes.append(StagingOutcome(spec=spec, reasons=reasons))
        else:
            outcomes.append(StagingOutcome(spec=spec, reasons=[], staged=_stage(user=user, spec=spec)))
            room -= 1
    for name, reason in skipped:
        outcomes.append(StagingOutcome(spec=JobSpec(file=ContentFile(b"", name=name)), reasons=[reason]))
    return outcomes


def file_check(*, user, spec: JobSpec) -> StagingOutcome:
    """The pre-flight alone (``POST /api/jobs/preflight/``): every reason, nothing stored, no event."""
    return StagingOutcome(spec=spec, reasons=job_validate(spec=spec, policies=submission_policies(user=user)))


def _stage(*, user, spec: JobSpec) -> StagedUpload:
    report = spec.report
    c = spec.constraints
    staged = StagedUpload(
        id=uuid.uuid4(),
        owner=user,
        original_name=(spec.file.name or "")[:255],
        file_format=report.format,
        size=spec.file.size,
        sha256=spec.sha256,
        metadata=report.metadata | ({"warnings": report.warnings} if report.warnings else {}),
        name=spec.name[:200],
        notes=spec.notes,
        machine_type=c.machine_type,
        material=c.material,
        colour=c.colour,
        nozzle_diameter=c.nozzle_diameter,
        tags=list(c.tags),
    )
    saved: list[str] = []
    try:
        spec.file.seek(0)
        # A temporary upload is moved, not copied: the file is written once, here.
        staged.file.save(spec.file.name or "upload.gcode", spec.file, save=False)
        saved.append(staged.file.name)
        picture = report.thumbnail.thumbnail
        if picture is not None:
            staged.thumbnail.save(f"thumb.{picture.extension}", ContentFile(picture.data), save=False)
            saved.append(staged.thumbnail.name)
        staged.save(force_insert=True)
    except BaseException:
        _delete_files(saved)
        raise
    return staged


def _delete_files(names: list[str]) -> None:
    storage = StagedUpload.file.field.storage
    for name in names:
        if name:
            storage.delete(name)  # a file already gone is not an error


def _files_of(staged: list[StagedUpload]) -> list[str]:
    return [name for item in staged for name in (item.file.name, item.thumbnail.name) if name]


def _spec(staged: StagedUpload) -> JobSpec:
    try:
        handle = staged.file.storage.open(staged.file.name, "rb")
    except FileNotFoundError as exc:
        StagedUpload.objects.filter(pk=staged.pk).delete()
        _delete_files(_files_of([staged]))
        raise PreviewNotFound(f"the file of {staged.original_name} is gone; please upload it again") from exc
    file = File(handle, name=staged.original_name)
    file.sha256 = staged.sha256  # hashed as it arrived; the stored file is the server's own
    constraints = JobConstraints(
        machine_type=staged.machine_type,
        material=staged.material,
        colour=staged.colour,
        nozzle_diameter=staged.nozzle_diameter,
        tags=tuple(staged.tags or ()),
    )
    return JobSpec(file=file, name=staged.name, notes=staged.notes, constraints=constraints)


def staged_uploads_confirm(*, user, ids: list[uuid.UUID]) -> list[Job]:
    """Turn the user's previews into jobs, in the order they were uploaded: all or none (several go in
    as one batch). Each is checked again; a refusal raises JobValidationError and keeps the previews.

    Only the owner's previews count: another user's id, or one already confirmed, cancelled or expired,
    raises PreviewNotFound (404). The row is deleted first in the transaction, so two confirmations of
    the same preview (two tabs, a double click) make one job, and the other gets the 404."""
    wanted = set(ids)
    staged = list(StagedUpload.objects.filter(owner=user, pk__in=wanted).order_by("created_at", "id"))
    if not wanted or len(staged) != len(wanted):
        raise PreviewNotFound("no such preview: it was confirmed, cancelled or has expired")
    specs: list[JobSpec] = []
    refused: JobValidationError | None = None
    try:
        for item in staged:
            specs.append(_spec(item))
        with transaction.atomic():
            deleted, _ = StagedUpload.objects.filter(pk__in=[item.pk for item in staged]).delete()
            if deleted != len(staged):
                raise PreviewNotFound("no such preview: it was confirmed, cancelled or has expired")
            try:
                if len(specs) == 1:
                    jobs = [job_submit(user=user, spec=specs[0])]
                else:
                    jobs = job_submit_batch(user=user, specs=specs)
            except JobValidationError as exc:
                refused = exc
                transaction.set_rollback(True)  # the previews stay for the student to cancel or retry
            else:
                names = _files_of(staged)
                transaction.on_commit(lambda: _delete_files(names))
    finally:
        for spec in specs:
            spec.file.close()
    if refused is not None:
        _record_refusals(user=user, error=refused, specs=specs)
        raise refused
    return jobs


def _record_refusals(*, user, error: JobValidationError, specs: list[JobSpec]) -> None:
    """The refusal events the rolled-back transaction took with it."""
    items = error.extra.get("items")
    if items is None:
        items = [{"name": specs[0].file.name, "success": False, "reasons": error.extra.get("reasons") or []}]
    for item in items:
        if not item["success"]:
            _record_refusal(
                user=user, actor_kind=ActorKind.USER, name=item["name"] or "", reasons=item["reasons"]
            )


def staged_upload_cancel(*, user, staged_id: uuid.UUID) -> None:
    """Delete one of the user's previews and its files (404 for anyone else's)."""
    staged = StagedUpload.objects.filter(owner=user, pk=staged_id).first()
    if staged is None:
        raise PreviewNotFound("no such preview: it was confirmed, cancelled or has expired")
    names = _files_of([staged])
    with transaction.atomic():
        StagedUpload.objects.filter(pk=staged.pk).delete()
        transaction.on_commit(lambda: _delete_files(names))


def staged_uploads_purge(*, older_than: dt.timedelta | None = None, limit: int = 500) -> int:
    """Delete previews older than ``JOBS_PREVIEW_HOURS`` with their files, and files under ``staged/``
    that old that no preview names; returns how many previews and stray files went."""
    if older_than is None:
        older_than = dt.timedelta(hours=settings.JOBS_PREVIEW_HOURS)
    cutoff = timezone.now() - older_than
    stale = list(StagedUpload.objects.filter(created_at__lt=cutoff).order_by("created_at")[:limit])
    for item in stale:
        StagedUpload.objects.filter(pk=item.pk).delete()
        _delete_files(_files_of([item]))
        logger.info("deleted preview %s of %s: never confirmed", item.original_name, item.owner_id)
    return len(stale) + len(_purge_stray_files(cutoff=cutoff))


def _purge_stray_files(*, cutoff: dt.datetime) -> list[str]:
    storage = StagedUpload.file.field.storage
    if not storage.exists(STAGED_DIR):
        return []
    old = []
    for name in storage.listdir(STAGED_DIR)[1]:
        path = f"{STAGED_DIR}/{name}"
        if storage.get_modified_time(path) < cutoff:
            old.append(path)
    named = set(StagedUpload.objects.filter(file__in=old).values_list("file", flat=True))
    named |= set(StagedUpload.objects.filter(thumbnail__in=old).values_list("thumbnail", flat=True))
    stray = [path for path in old if path not in named]
    for path in stray:
        storage.delete(path)
        logger.warning("deleted %s: no preview names it (an upload cut off before its row was saved)", path)
    return stray
