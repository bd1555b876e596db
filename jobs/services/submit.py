"""Submitting jobs: validate uploads (every check, every reason), then add to the queue all or none."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from events.services import event_record as domain_event_record
from events.services import event_record_many
from events.types import EventType
from jobs import signals
from jobs.domain_events import job_payload
from jobs.exceptions import JobPermissionDenied, JobValidationError
from jobs.filament import filament_need
from jobs.gcode import GcodeReport, NotGcode, file_format_for, inspect_gcode
from jobs.models import Job, JobEvent
from jobs.policy import SubmissionPolicies, submission_policies, submission_reasons
from jobs.preflight import JobConstraints, machine_fit_reasons, preflight_reasons
from jobs.selectors import candidate_machines
from jobs.services.lifecycle import bump_versions
from jobs.services.positions import BACK, Location, allocate_positions, lock_queue
from jobs.states import ActorKind, JobState
from jobs.thumbnails import thumbnail_place
from jobs.uploads import max_upload_bytes, too_large_message
from materials.selectors import material_by_name, material_types, tracking_enabled
from policies.selectors import training_rules

logger = logging.getLogger(__name__)


@dataclass
class JobSpec:
    """One job to submit: its file (already on disk) plus what the user asked for."""

    file: UploadedFile
    name: str = ""
    notes: str = ""
    priority: int = 0
    constraints: JobConstraints = field(default_factory=JobConstraints)
    # Filled in by job_validate:
    sha256: str = ""
    report: GcodeReport | None = None


def forbidden_commands() -> frozenset[str]:
    return frozenset(c.strip().upper() for c in settings.JOBS_FORBIDDEN_COMMANDS if c.strip())


def _sha256(file: UploadedFile) -> str:
    digest = getattr(file, "sha256", None)
    if digest:
        return digest
    hasher = hashlib.sha256()
    for chunk in file.chunks():
        hasher.update(chunk)
    return hasher.hexdigest()


def job_validate(
    *, spec: JobSpec, candidates: dict | None = None, policies: SubmissionPolicies | None = None
) -> list[str]:
    """Every reason this file cannot be submitted (empty when it can). Fills in spec.sha256/report.

    ``policies``: the submitter's trainings and quotas (``jobs.policy.submission_policies``); without
    them the lab's policies are not checked (a pre-flight of the file alone)."""
    name = spec.file.name or ""
    limit = max_upload_bytes()
    if spec.file.size > limit:
        return [too_large_message(limit)]
    if spec.file.size == 0:
        return ["the file is empty"]
    if file_format_for(name) is None:
        return [f"{name!r} is not a G-code file (allowed: .gcode, .gco, .g, .bgcode)"]
    reasons: list[str] = []
    try:
        spec.report = inspect_gcode(
            spec.file.open("rb"), original_name=name, forbidden_commands=forbidden_commands()
        )
    except NotGcode as exc:
        return [str(exc)]
    spec.sha256 = _sha256(spec.file)
    for line, command in spec.report.forbidden[:20]:
        reasons.append(f"line {line}: {command} is not allowed in lab prints")
    if len(spec.report.forbidden) > 20:
        reasons.append(f"… and {len(spec.report.forbidden) - 20} more forbidden commands")
    if spec.priority and not -100 <= spec.priority <= 100:
        reasons.append("priority must be between -100 and 100")
    cache = candidates if candidates is not None else {}
    if spec.constraints not in cache:
        cache[spec.constraints] = candidate_machines(constraints=spec.constraints)
    reasons += material_reasons(constraints=spec.constraints)
    spec.report.metadata["filament_need"] = filament_need(
        metadata=spec.report.metadata, material=spec.constraints.material
    )
    fit = preflight_reasons(
        cache[spec.constraints],
        metadata=spec.report.metadata,
        constraints=spec.constraints,
    )
    reasons += fit
    if policies is not None and not fit:
        if "training_rules" not in cache:
            cache["training_rules"] = training_rules()
        fitting = [
            c
            for c in cache[spec.constraints]
            if not machine_fit_reasons(
                c, metadata=spec.report.metadata, constraints=spec.constraints, transient=False
            )
        ]
        reasons += submission_reasons(
            policies=policies, rules=cache["training_rules"], fitting=fitting, metadata=spec.report.metadata
        )
    return reasons


def _record_refusal(*, user, actor_kind: str, name: str, reasons: list[str]) -> None:
    """The pre-flight refused a file: no job exists, but the refusal is an event (with the reasons)."""
    authenticated = user is not None and user.is_authenticated
    domain_event_record(
        type=EventType.JOB_REFUSED,
        payload={"file": name, "reasons": reasons[:50]},
        actor_kind=actor_kind,
        actor=user.get_username() if authenticated else "",
        user_id=user.pk if authenticated else None,
    )


def material_reasons(*, constraints: JobConstraints) -> list[str]:
    """A material the lab does not know is refused once the lab tracks spools (no spool could ever fit)."""
    if not constraints.material or not tracking_enabled() or material_by_name(constraints.material):
        return []
    known = ", ".join(material_types().values_list("name", flat=True)) or "none"
    return [f"unknown material {constraints.material!r} (the lab has: {known})"]


def job_submit(*, user, spec: JobSpec, location: Location = BACK, actor_kind: str = ActorKind.USER) -> Job:
    """Validate and add one job; a failed check raises JobValidationError listing every reason."""
    reasons = job_validate(spec=spec, policies=submission_policies(user=user))
    if reasons:
        _record_refusal(user=user, actor_kind=actor_kind, name=spec.file.name or "", reasons=reasons)
        raise JobValidationError("the job was not accepted", reasons=reasons)
    return _add(user=user, specs=[spec], location=location, actor_kind=actor_kind)[0]


def job_submit_batch(
    *, user, specs: list[JobSpec], location: Location = BACK, actor_kind: str = ActorKind.USER
) -> list[Job]:
    """Validate every item first; add all (as one contiguous block) or none.

    On failure ``JobValidationError.extra["items"]`` holds a result per item.
    """
    if not specs:
        raise JobValidationError("the batch is empty")
    results = []
    candidates: dict = {}  # machines per distinct constraints, read once per batch
    policies = submission_policies(user=user)  # the batch counts against the quota as a whole
    for index, spec in enumerate(specs):
        reasons = job_validate(spec=spec, candidates=candidates, policies=policies)
        results.append({"index": index, "name": spec.file.name, "success": not reasons, "reasons": reasons})
    if any(not r["success"] for r in results):
        for r in results:
            if not r["success"]:
                _record_refusal(user=user, actor_kind=actor_kind, name=r["name"] or "", reasons=r["reasons"])
        raise JobValidationError("the batch was not accepted: no job was added", items=results)
    return _add(user=user, specs=specs, location=location, actor_kind=actor_kind)


def _add(*, user, specs: list[JobSpec], location: Location, actor_kind: str) -> list[Job]:
    if not location.is_back and not user.is_staff:
        raise JobPermissionDenied("only lab staff choose where a job goes in the queue; yours go to the back")
    if any(spec.priority for spec in specs) and not user.is_staff:
        raise JobPermissionDenied("only lab staff set priorities")
    saved: list[str] = []
    try:
        with transaction.atomic():
            jobs, files = _add_locked(user=user, specs=specs, location=location, actor_kind=actor_kind)
            _store_files(files, saved=saved)
        return jobs
    except BaseException:
        for name in saved:  # nothing stored on failure: no row, no orphan file
            Job.file.field.storage.delete(name)
        raise


def _store_files(files: list[tuple[str, File]], *, saved: list[str]) -> None:
    """Store the files under the names the rows already carry, as the last step before the commit.

    A process killed between these writes and the commit leaves a file no job names; it cannot leave a
    job without its file. The hourly sweep (``jobs.services.retention.job_files_sweep_orphans``) removes
    such files; the window is the few milliseconds of a commit, not the whole submission.
    """
    storage = Job.file.field.storage
    for name, content in files:
        content.seek(0)
        stored = storage.save(name, content)
        saved.append(stored)
        if stored != name:
            raise RuntimeError(f"the storage put {name} under another name ({stored}): the name was taken")


def _add_locked(*, user, specs, location, actor_kind) -> tuple[list[Job], list[tuple[str, File]]]:
    lock_queue()
    approval = bool(settings.JOBS_REQUIRE_APPROVAL) and not user.is_staff
    target = JobState.AWAITING_APPROVAL if approval else JobState.QUEUED
    batch_id = uuid.uuid4() if len(specs) > 1 else None
    now = timezone.now()
    by_priority: dict[int, list[JobSpec]] = {}
    for spec in specs:
        by_priority.setdefault(spec.priority, []).append(spec)
    positions: dict[int, int] = {}
    for priority, group in by_priority.items():
        for spec, position in zip(
            group, allocate_positions(priority=priority, location=location, count=len(group)), strict=True
        ):
            positions[id(spec)] = position
    jobs = []
    files: list[tuple[str, File]] = []
    for spec in specs:
        job_id = uuid.uuid4()
        c = spec.constraints
        job = Job(
            id=job_id,
            owner=user,
            name=(spec.name or spec.file.name or "print")[:200],
            notes=spec.notes,
            original_name=(spec.file.name or "")[:255],
            file_format=spec.report.format,
            size=spec.file.size,
            sha256=spec.sha256,
            metadata=spec.report.metadata
            | ({"warnings": spec.report.warnings} if spec.report.warnings else {}),
            printer_file_name=f"{job_id}.{'bgcode' if spec.report.format == 'bgcode' else 'gcode'}",
            machine_type=c.machine_type,
            material=c.material,
            colour=c.colour,
            nozzle_diameter=c.nozzle_diameter,
            tags=list(c.tags),
            target_machine_id=c.target_machine_id,
            priority=spec.priority,
            state=target,
            position=positions[id(spec)],
            batch_id=batch_id,
            version=2,
            created_at=now,
            queued_at=now if target == JobState.QUEUED else None,
        )
        job.file.name = job.file.field.generate_filename(job, spec.file.name or "job.gcode")
        files.append((job.file.name, spec.file))
        if thumbnail := thumbnail_place(job=job, choice=spec.report.thumbnail):
            files.append(thumbnail)
        jobs.append(job)
    Job.objects.bulk_create(jobs, batch_size=500)
    actor = user if user.is_authenticated else None
    events = []
    for job in jobs:
        extra = {"sha256": job.sha256, "size": job.size, "original_name": job.original_name}
        if batch_id:
            extra["batch_id"] = str(batch_id)
        events.append(
            JobEvent(
                job=job,
                kind=JobEvent.Kind.CREATED,
                to_state=JobState.SUBMITTED,
                actor_kind=actor_kind,
                actor=actor,
                reason="submitted",
                extra=extra,
            )
        )
        events.append(
            JobEvent(
                job=job,
                kind=JobEvent.Kind.TRANSITION,
                from_state=JobState.SUBMITTED,
                to_state=target,
                actor_kind=ActorKind.SYSTEM,
                reason="staff approval required" if approval else "pre-flight passed",
            )
        )
    JobEvent.objects.bulk_create(events, batch_size=1000)
    domain_events = []
    for job in jobs:
        for event_type in (EventType.JOB_SUBMITTED, EventType.JOB_ACCEPTED):
            domain_events.append(
                {
                    "type": event_type,
                    "payload": job_payload(job, batch_id=str(batch_id) if batch_id else None),
                    "actor_kind": actor_kind,
                    "actor": actor.get_username() if actor else "",
                    "job_id": job.pk,
                    "user_id": job.owner_id,
                }
            )
    event_record_many(events=domain_events)
    bump_versions(queue=True)
    if target == JobState.QUEUED:
        transaction.on_commit(
            lambda: signals.queue_changed.send(sender=Job, reason="job queued"), robust=True
        )
    return jobs, files
