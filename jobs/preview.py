"""What the submit page (and ``POST /api/jobs/preflight/``) shows about a checked file before any job
exists: picture, estimated time, filament, the machines that fit and why the others do not, what the
check found, and the earliest start the queue forecast (``jobs.forecast``) gives it.

Reads only; the staging itself is ``jobs.services.staging``.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from jobs.estimates import format_duration
from jobs.forecast import queue_forecast
from jobs.models import Job, StagedUpload
from jobs.preflight import JobConstraints, machine_fit_reasons
from jobs.selectors import candidate_machines
from jobs.services.staging import StagingOutcome
from jobs.states import JobState


@dataclass
class FilamentLine:
    tool: int
    material: str
    grams: float | None
    metres: float | None


@dataclass
class Preview:
    """One file as the page shows it; ``id`` is the staged upload's (None for a refused file)."""

    file_name: str
    name: str = ""
    id: uuid.UUID | None = None
    size: int = 0
    file_format: str = ""
    sha256: str = ""
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    thumbnail_url: str = ""
    thumbnail: dict = field(default_factory=dict)  # format, width, height, or a note
    estimated_seconds: float | None = None
    filament: list[FilamentLine] = field(default_factory=list)
    filament_note: str = ""
    materials: list[str] = field(default_factory=list)
    machines: list[str] = field(default_factory=list)  # names of the machines that fit
    unfit: list[tuple[str, list[str]]] = field(default_factory=list)  # (machine, its reasons)
    start: datetime | None = None
    finish: datetime | None = None
    start_machine: str = ""
    start_note: str = ""
    checked: bool = False  # False: the file could not be read as G-code at all
    confirm_reasons: list[str] = field(default_factory=list)  # why "Confirm" was refused just now

    @property
    def accepted(self) -> bool:
        return not self.reasons

    @property
    def estimated_time(self) -> str:
        return format_duration(self.estimated_seconds)

    @property
    def grams(self) -> float | None:
        known = [line.grams for line in self.filament if line.grams is not None]
        return round(sum(known), 1) if known and len(known) == len(self.filament) else None

    @property
    def metres(self) -> float | None:
        known = [line.metres for line in self.filament if line.metres is not None]
        return round(sum(known), 2) if known and len(known) == len(self.filament) else None

    @property
    def wait(self) -> str:
        """ "in 2 h 05 min"'s duration; empty when it starts now (or has no start)."""
        if self.start is None:
            return ""
        seconds = (self.start - timezone.now()).total_seconds()
        return format_duration(seconds) if seconds >= 60 else ""


def _filament(metadata: dict) -> tuple[list[FilamentLine], str]:
    need = metadata.get("filament_need") or {}
    lengths = {t.get("tool"): t.get("length_mm") for t in metadata.get("filament_tools") or []}
    lines = []
    for tool in need.get("tools") or []:
        length = lengths.get(tool.get("tool"))
        lines.append(
            FilamentLine(
                tool=tool.get("tool") or 0,
                material=tool.get("material") or "",
                grams=tool.get("grams"),
                metres=round(float(length) / 1000, 2) if length else None,
            )
        )
    return lines, need.get("note") or ""


def _constraints(item: StagedUpload) -> JobConstraints:
    return JobConstraints(
        machine_type=item.machine_type,
        material=item.material,
        colour=item.colour,
        nozzle_diameter=item.nozzle_diameter,
        tags=tuple(item.tags or ()),
    )


def _fill(preview: Preview, *, metadata: dict, constraints: JobConstraints, machines_cache: dict) -> None:
    preview.checked = True
    preview.estimated_seconds = metadata.get("estimated_time_s") or None
    preview.filament, preview.filament_note = _filament(metadata)
    preview.materials = list(metadata.get("materials") or [])
    preview.thumbnail = dict(metadata.get("thumbnail") or {})
    preview.warnings = list(metadata.get("warnings") or preview.warnings)
    if constraints not in machines_cache:
        machines_cache[constraints] = candidate_machines(constraints=constraints)
    for caps in machines_cache[constraints]:
        reasons = machine_fit_reasons(caps, metadata=metadata, constraints=constraints, transient=False)
        if reasons:
            preview.unfit.append((caps.name, reasons))
        else:
            preview.machines.append(caps.name)


def _unsaved_job(*, owner_id, job_id: uuid.UUID, metadata: dict, constraints: JobConstraints) -> Job:
    """The job a preview would become, for the forecast (never saved)."""
    return Job(
        id=job_id,
        owner_id=owner_id,
        metadata=metadata,
        machine_type=constraints.machine_type,
        material=constraints.material,
        colour=constraints.colour,
        nozzle_diameter=constraints.nozzle_diameter,
        tags=list(constraints.tags),
        target_machine_id=constraints.target_machine_id,
        priority=0,
        state=JobState.QUEUED,
    )


def _with_forecast(
    *, user, items: list[tuple[Preview, dict, JobConstraints]], now: datetime | None
) -> list[Preview]:
    """Fill in each preview, then its earliest start: all of them at the back of today's queue, in this
    order (as "Confirm all" would put them), played forward by the queue forecast."""
    machines_cache: dict = {}
    extra = []
    for preview, metadata, constraints in items:
        _fill(preview, metadata=metadata, constraints=constraints, machines_cache=machines_cache)
        extra.append(
            _unsaved_job(owner_id=user.pk, job_id=preview.id, metadata=metadata, constraints=constraints)
        )
    forecasts = queue_forecast(now=now, extra=extra) if extra else {}
    for preview in (item[0] for item in items):
        forecast = forecasts.get(preview.id)
        if forecast is not None:
            preview.start, preview.finish = forecast.start, forecast.finish
            preview.start_machine, preview.start_note = forecast.machine_name, forecast.note
    return [item[0] for item in items]


def staged_previews(*, user, staged: list[StagedUpload], now: datetime | None = None) -> list[Preview]:
    """The user's previews (``staged``, oldest first) with their earliest start."""
    items = []
    for item in staged:
        preview = Preview(
            id=item.id,
            file_name=item.original_name,
            name=item.display_name,
            size=item.size,
            file_format=item.file_format,
            sha256=item.sha256,
            thumbnail_url=reverse("jobs:preview-thumbnail", args=[item.id]) if item.thumbnail else "",
        )
        items.append((preview, item.metadata or {}, _constraints(item)))
    return _with_forecast(user=user, items=items, now=now)


def refused_preview(outcome: StagingOutcome, *, machines_cache: dict | None = None) -> Preview:
    """A file that did not pass: its reasons, and what could be read from it (nothing is stored, so the
    picture travels inline)."""
    spec = outcome.spec
    preview = Preview(
        file_name=spec.file.name or "",
        name=spec.name or spec.file.name or "",
        size=spec.file.size or 0,
        reasons=list(outcome.reasons),
    )
    report = spec.report
    if report is not None:
        preview.file_format, preview.sha256 = report.format, spec.sha256
        preview.warnings = list(report.warnings)
        _fill(
            preview,
            metadata=report.metadata,
            constraints=spec.constraints,
            machines_cache=machines_cache if machines_cache is not None else {},
        )
        picture = report.thumbnail.thumbnail
        if picture is not None:
            encoded = base64.b64encode(picture.data).decode()
            preview.thumbnail_url = f"data:{picture.content_type};base64,{encoded}"
    return preview


def file_preview(*, user, outcome: StagingOutcome, now: datetime | None = None) -> Preview:
    """The API's pre-flight: the same preview for a file that is checked but not kept."""
    if outcome.reasons:
        return refused_preview(outcome)
    spec = outcome.spec
    report = spec.report
    preview = Preview(
        id=uuid.uuid4(),  # only to find its forecast
        file_name=spec.file.name or "",
        name=spec.name or spec.file.name or "",
        size=spec.file.size,
        file_format=report.format,
        sha256=spec.sha256,
        warnings=list(report.warnings),
    )
    _with_forecast(user=user, items=[(preview, report.metadata, spec.constraints)], now=now)
    preview.id = None
    return preview
