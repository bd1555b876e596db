"""Reads for one job's page (/jobs/<id>/): what the pre-flight found in the file and which machines fit
it, the timeline of every step with who took it, and whether the machine it is on has a camera."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from jobs.estimates import format_duration
from jobs.machine_page import machine_has_camera
from jobs.models import Job, JobEvent
from jobs.preflight import machine_fit_reasons
from jobs.selectors import candidate_machines, job_constraints
from jobs.states import ACTIVE_STATES, QUEUE_STATES, ActorKind

# Who took a step, for actors that are not a person (the reconciler writes what the printer reported).
ACTOR_LABELS = {
    ActorKind.SCHEDULER: "scheduler",
    ActorKind.RECONCILER: "printer",
    ActorKind.PARTNER: "partner lab",
    ActorKind.SYSTEM: "system",
    ActorKind.OPCUA: "OPC UA client",
    ActorKind.USER: "a deleted user",  # a user's step whose account is gone (actor set to NULL)
}


@dataclass(frozen=True)
class Finding:
    label: str
    value: str


@dataclass(frozen=True)
class MachineFit:
    name: str
    reasons: list[str]


@dataclass
class Preflight:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: bool = False  # the machines were checked (jobs that still wait)
    fits: list[str] = field(default_factory=list)
    misfits: list[MachineFit] = field(default_factory=list)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    actor: str
    actor_kind: str
    reason: str
    to_state: str = ""
    by_person: bool = False


def _temperature(first, highest) -> str:
    if first is None and highest is None:
        return ""
    if highest is None or highest == first:
        return f"{first:g} °C"
    return f"{first:g} °C first layer, up to {highest:g} °C" if first is not None else f"up to {highest:g} °C"


def _findings(metadata: dict) -> list[Finding]:
    found = []
    slicer = metadata.get("slicer")
    if isinstance(slicer, dict) and slicer.get("name"):
        found.append(Finding("Slicer", f"{slicer['name']} {slicer.get('version') or ''}".strip()))
    if metadata.get("estimated_time_s"):
        found.append(Finding("Print time (slicer)", format_duration(metadata["estimated_time_s"])))
    temperatures = metadata.get("temperatures") or {}
    nozzle = _temperature(temperatures.get("first_layer_nozzle"), temperatures.get("max_nozzle"))
    bed = _temperature(temperatures.get("first_layer_bed"), temperatures.get("max_bed"))
    if nozzle:
        found.append(Finding("Nozzle", nozzle))
    if bed:
        found.append(Finding("Bed", bed))
    if metadata.get("nozzle_diameter"):
        found.append(Finding("Sliced for nozzle", f"{metadata['nozzle_diameter']:g} mm"))
    bounds = metadata.get("bounds")
    if isinstance(bounds, dict) and bounds.get("min") and bounds.get("max"):
        size = " x ".join(
            f"{high - low:.0f}" for low, high in zip(bounds["min"], bounds["max"], strict=False)
        )
        found.append(Finding("Print size", f"{size} mm"))
    if metadata.get("materials"):
        found.append(Finding("Materials", ", ".join(str(m) for m in metadata["materials"])))
    if metadata.get("lines"):
        found.append(Finding("Lines", f"{metadata['lines']:,}"))
    return found


def job_preflight(job: Job) -> Preflight:
    """What the pre-flight read from the file, its warnings, and, while the job waits, which machines
    fit it (the pre-flight's checks: volume, nozzle, temperatures, materials, tags; not spools or
    maintenance, which change by the hour)."""
    metadata = job.metadata or {}
    preflight = Preflight(
        findings=_findings(metadata), warnings=[str(w) for w in metadata.get("warnings") or []]
    )
    if metadata.get("filament_garbled"):
        preflight.warnings.append("the slicer's filament figures could not all be read")
    if job.state not in QUEUE_STATES or job.external:
        return preflight
    constraints = job_constraints(job=job)
    preflight.checked = True
    for caps in candidate_machines(constraints=constraints):
        reasons = machine_fit_reasons(caps, metadata=metadata, constraints=constraints, transient=False)
        if reasons:
            preflight.misfits.append(MachineFit(caps.name, reasons))
        else:
            preflight.fits.append(caps.name)
    return preflight


def actor_label(event: JobEvent) -> str:
    """The person's name (full name, else user name), or what took the step: scheduler, printer…"""
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    return ACTOR_LABELS.get(event.actor_kind, event.actor_kind or "—")


def _what(event: JobEvent) -> str:
    """The step in words; state changes with the states' names as the API and the events use them."""
    if event.kind == JobEvent.Kind.CREATED:
        return "submitted"
    if event.to_state and event.to_state != event.from_state:
        return f"{event.from_state or '—'} → {event.to_state}"
    extra = event.extra or {}
    if event.kind == JobEvent.Kind.REQUEST:
        action = str(extra.get("request") or "control")
        return f"{action} refused" if extra.get("refused") else f"{action} requested"
    if extra.get("bed_cleared"):
        return "bed cleared"
    return event.get_kind_display().lower()


def job_timeline(job: Job) -> list[TimelineEntry]:
    """Every recorded step of the job, oldest first, with who took it."""
    events = JobEvent.objects.filter(job=job).select_related("actor").order_by("created_at", "id")
    return [
        TimelineEntry(
            at=event.created_at,
            what=_what(event),
            actor=actor_label(event),
            actor_kind=event.actor_kind,
            reason=event.reason,
            to_state=event.to_state,
            by_person=event.actor is not None,
        )
        for event in events
    ]


def job_shows_camera(job: Job) -> bool:
    """The job is on a machine now and that machine has a camera worth showing."""
    return bool(job.machine_id) and job.state in ACTIVE_STATES and machine_has_camera(job.machine_id)
