"""Reads: who sees which jobs, the queue in order, the history, change markers, machine capabilities."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber

from jobs.filament import waiting_text
from jobs.models import Job, JobEvent, QueueState
from jobs.policy import job_policies
from jobs.preflight import JobConstraints, MachineCapabilities, machine_fit_reasons, material_reason
from jobs.states import (
    CANCELLABLE_STATES,
    CONTROL_REQUEST_STATES,
    QUEUE_STATES,
    RUNNING_STATES,
    TERMINAL_STATES,
    ControlAction,
    JobState,
)
from machines.models import MachineConfig
from machines.registry import get_registry
from maintenance.selectors import maintenance_reasons_by_machine
from materials.selectors import LoadedSpool, loaded_spools_by_machine, safety_margin, tracking_enabled
from policies.hours import describe_opening
from policies.selectors import training_missing_text

QUEUE_ORDER = (F("priority").desc(), F("position").asc(nulls_last=True), F("created_at").asc())
_UUID_IN_NAME = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I)


def job_list_visible(*, user) -> QuerySet[Job]:
    """Staff see every job; everyone else only their own."""
    qs = Job.objects.select_related("owner", "machine", "target_machine")
    if user is None or not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(owner=user)


def job_can_change(*, user, job: Job) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or job.owner_id == user.pk))


@dataclass(frozen=True)
class JobControls:
    """Which control actions a job offers now; the pages' buttons and the API's ``controls`` agree."""

    can_pause: bool
    can_resume: bool
    can_cancel: bool

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)


def job_controls(*, job: Job) -> JobControls:
    """An action is offered when the job's state allows it and it has not already been asked for
    (``job_request_control`` enforces the same table, see ``jobs.states.CONTROL_REQUEST_STATES``)."""
    requested = job.requested_action
    return JobControls(
        can_pause=job.state in CONTROL_REQUEST_STATES[ControlAction.PAUSE]
        and requested != ControlAction.PAUSE,
        can_resume=job.state in CONTROL_REQUEST_STATES[ControlAction.RESUME]
        and requested != ControlAction.RESUME,
        can_cancel=job.state in CANCELLABLE_STATES and requested != ControlAction.CANCEL,
    )


def queue_jobs() -> QuerySet[Job]:
    return Job.objects.filter(state__in=QUEUE_STATES).order_by(*QUEUE_ORDER)


def queue_list(*, user) -> QuerySet[Job]:
    """The waiting jobs the user may see, in queue order, each annotated with its farm-wide ``queue_index``."""
    qs = queue_jobs().select_related("owner", "machine", "target_machine")
    if user.is_staff:
        return qs.annotate(queue_index=Window(RowNumber(), order_by=list(QUEUE_ORDER)) - 1)
    # A window would number only the user's rows (WHERE runs first), so count the jobs ahead instead.
    ahead = (
        queue_jobs()
        .order_by()
        .filter(
            Q(priority__gt=OuterRef("priority"))
            | Q(priority=OuterRef("priority"), position__lt=OuterRef("position"))
        )
        .annotate(n=Func(F("pk"), function="COUNT"))
        .values("n")
    )
    return qs.filter(owner=user).annotate(queue_index=Subquery(ahead, output_field=IntegerField()))


def running_list(*, user) -> QuerySet[Job]:
    return job_list_visible(user=user).filter(state__in=RUNNING_STATES).order_by("started_at", "created_at")


def history_list(*, user, filters: dict | None = None) -> QuerySet[Job]:
    """Finished jobs, newest first. Filters: state, owner (id), machine (id), since, until."""
    qs = job_list_visible(user=user).filter(state__in=TERMINAL_STATES)
    filters = filters or {}
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("owner"):
        qs = qs.filter(owner_id=filters["owner"])
    if filters.get("machine"):
        qs = qs.filter(machine_id=filters["machine"])
    if filters.get("since"):
        qs = qs.filter(finished_at__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(finished_at__lt=filters["until"])
    return qs.order_by(F("finished_at").desc(nulls_last=True), "-created_at")


def job_events(*, job: Job) -> QuerySet[JobEvent]:
    return job.events.select_related("actor").order_by("created_at", "id")


def queue_state_get() -> QueueState:
    state, _ = QueueState.objects.get_or_create(pk=QueueState.SINGLETON_ID)
    return state


def change_marker(*, kind: str, version: int, user, query: str = "") -> str:
    """An ETag for the queue or history as this user sees it with these query parameters."""
    viewer = "staff" if user.is_staff else f"user{user.pk}"
    digest = hashlib.sha256(f"{kind}|{version}|{viewer}|{query}".encode()).hexdigest()[:16]
    return f'"{kind}-{version}-{digest}"'


def job_for_printer_file(*, file_name: str) -> Job | None:
    """The job a printer-side file belongs to, by the UUID in its name (never by guessing)."""
    match = _UUID_IN_NAME.search(file_name or "")
    if not match:
        return None
    return Job.objects.filter(pk=uuid.UUID(match.group(1)), external=False).first()


def job_constraints(*, job: Job) -> JobConstraints:
    return JobConstraints(
        machine_type=job.machine_type,
        material=job.material,
        colour=job.colour,
        nozzle_diameter=job.nozzle_diameter,
        tags=tuple(job.tags or ()),
        target_machine_id=str(job.target_machine_id) if job.target_machine_id else None,
    )


# Machine capabilities come from the machine registry's typed settings, so a machine left on its
# type's defaults (build volume, nozzle) is checked against them too.


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = re.split(r"[,;]", value)
    return tuple(str(item).strip() for item in value if str(item).strip())


def _capabilities(
    machine: MachineConfig,
    settings: dict[str, Any],
    *,
    spools: tuple[LoadedSpool, ...] | None = None,
    margin: tuple[float, float] = (0.0, 0.0),
    maintenance: str = "",
) -> MachineCapabilities:
    volume = [_number(settings.get(f"BUILD_VOLUME_{a}")) for a in "XYZ"]
    return MachineCapabilities(
        machine_id=str(machine.pk),
        name=machine.name,
        machine_type=machine.machine_type,
        active=machine.active,
        build_min=tuple(_number(settings.get(f"BUILD_MIN_{a}")) or 0.0 for a in "XYZ"),
        build_volume=tuple(volume) if None not in volume else None,
        nozzle_diameter=_number(settings.get("NOZZLE_DIAMETER")),
        # Nothing declared is "not known", not "nothing loaded": the material check needs a list.
        # Once the lab tracks spools, the spools say what is loaded and the setting is not consulted.
        loaded_materials=None if spools is not None else (_names(settings.get("LOADED_MATERIALS")) or None),
        max_nozzle_temp=_number(settings.get("MAX_NOZZLE_TEMP")),
        max_bed_temp=_number(settings.get("MAX_BED_TEMP")),
        tags=_names(settings.get("TAGS")),
        spools=spools,
        margin=margin,
        maintenance=maintenance,
    )


class MachineCapabilitiesIndex:
    """Capabilities by machine id (text), each built when first asked for: the scheduler usually
    finds a machine for its few waiting jobs among the first idle ones, and building all 1000 cost
    two thirds of a run. Spools and maintenance are still read in two queries for any fleet size."""

    def __init__(self, machines: list[MachineConfig]) -> None:
        self._machines = {str(machine.pk): machine for machine in machines}
        ids = [machine.pk for machine in machines]
        self._registry = get_registry()
        self._spools = loaded_spools_by_machine(ids) if tracking_enabled() else None
        self._margin = safety_margin()
        self._maintenance = maintenance_reasons_by_machine(ids)
        self._built: dict[str, MachineCapabilities] = {}

    def __getitem__(self, machine_id: object) -> MachineCapabilities:
        key = str(machine_id)
        caps = self._built.get(key)
        if caps is None:
            machine = self._machines[key]
            loaded = self._registry.get_machine(machine.pk)
            caps = self._built[key] = _capabilities(
                machine,
                loaded.settings if loaded is not None else {},
                spools=self._spools.get(key, ()) if self._spools is not None else None,
                margin=self._margin,
                maintenance=self._maintenance.get(key, ""),
            )
        return caps

    def all(self) -> list[MachineCapabilities]:
        return [self[key] for key in self._machines]


def machine_capabilities_for(*, machines: list[MachineConfig]) -> list[MachineCapabilities]:
    """Capabilities with loaded spools and maintenance state, read in two queries for any fleet size."""
    return MachineCapabilitiesIndex(machines).all()


def candidate_machines(*, constraints: JobConstraints) -> list[MachineCapabilities]:
    """Machines a job with these constraints could be sent to (before live state is considered)."""
    if constraints.target_machine_id:
        machines = list(MachineConfig.objects.filter(pk=constraints.target_machine_id))
    else:
        machines = list(MachineConfig.objects.filter(active=True, machine_type=constraints.machine_type))
    return machine_capabilities_for(machines=machines)


def queue_waiting_reasons(*, jobs) -> dict:
    """Why queued jobs wait: ``{job pk: text}`` when the reason is the owner's quota, a missing training,
    maintenance, material or the lab's opening hours (in that order).

    A job that some machine could take now has no entry: it waits for that machine to become free.
    Machines, their spools and the lab's policies are read once for all the jobs given.
    """
    queued = [job for job in jobs if job.state == JobState.QUEUED]
    if not queued:
        return {}
    machines = list(
        MachineConfig.objects.filter(active=True, machine_type__in={job.machine_type for job in queued})
    )
    caps = machine_capabilities_for(machines=machines)
    policies = job_policies(jobs=queued)
    result = {}
    for job in queued:
        constraints = job_constraints(job=job)
        metadata = job.metadata or {}
        fitting = [
            c
            for c in caps
            if c.machine_type == job.machine_type
            and (not constraints.target_machine_id or c.machine_id == constraints.target_machine_id)
            and not machine_fit_reasons(c, metadata=metadata, constraints=constraints, transient=False)
        ]
        if not fitting:
            continue
        quota = policies.quota_reason(job)
        if quota:
            result[job.pk] = f"waiting: {quota}"
            continue
        missing = {
            c.machine_id: policies.missing(job, machine_id=c.machine_id, machine_type=c.machine_type)
            for c in fitting
        }
        trained = [c for c in fitting if not missing[c.machine_id]]
        if not trained:
            result[job.pk] = (
                f"waiting: {training_missing_text(t for group in missing.values() for t in group)}"
            )
            continue
        usable = [c for c in trained if not c.maintenance]
        if not usable:
            result[job.pk] = "waiting: every machine that fits is in maintenance"
            continue
        with_material = [
            c for c in usable if not material_reason(c, metadata=metadata, constraints=constraints)
        ]
        if not with_material:
            result[job.pk] = waiting_text(
                need=metadata.get("filament_need") or {},
                material=constraints.material,
                colour=constraints.colour,
                metadata=metadata,
                margin=usable[0].margin,
            )
            continue
        hours = {c.machine_id: policies.hours_reason(job, machine_id=c.machine_id) for c in with_material}
        if all(hours.values()):
            starts = [
                start
                for c in with_material
                if (start := policies.earliest_start(job, machine_id=c.machine_id, after=policies.now))
                is not None
            ]
            result[job.pk] = (
                f"waits for opening at {describe_opening(min(starts), policies.snapshot.calendar.zone)}"
                if starts
                else next(iter(hours.values()))
            )
    return result
