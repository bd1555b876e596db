"""Reads: who sees which jobs, the queue in order, the history, change markers, machine capabilities."""

from __future__ import annotations

import hashlib
import json
import re
import uuid

from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber

from jobs.models import Job, JobEvent, QueueState
from jobs.preflight import JobConstraints, MachineCapabilities
from jobs.states import QUEUE_STATES, RUNNING_STATES, TERMINAL_STATES
from machines.models import MachineConfig, MachineSetting

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
        nozzle_diameter=job.nozzle_diameter,
        tags=tuple(job.tags or ()),
        target_machine_id=str(job.target_machine_id) if job.target_machine_id else None,
    )


# Machine capabilities. Until the machine registry exposes typed settings these are read from the
# machine-type settings rows (MachineSetting, config_type "M"); only this block changes when it does.
CAPABILITY_KEYS = {
    "build_volume_x",
    "build_volume_y",
    "build_volume_z",
    "build_min_x",
    "build_min_y",
    "build_min_z",
    "nozzle_diameter",
    "loaded_materials",
    "max_nozzle_temp",
    "max_bed_temp",
    "tags",
}


def _number(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _names(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value.strip().startswith("["):  # list settings are stored as JSON by machines.setting_defs
        try:
            items = json.loads(value)
        except ValueError:
            items = None
        if isinstance(items, list):
            return tuple(str(item).strip() for item in items if str(item).strip())
    return tuple(part.strip() for part in re.split(r"[,;]", value) if part.strip())


def _capabilities(machine: MachineConfig, settings: dict[str, str]) -> MachineCapabilities:
    volume = [_number(settings.get(f"build_volume_{a}")) for a in "xyz"]
    return MachineCapabilities(
        machine_id=str(machine.pk),
        name=machine.name,
        machine_type=machine.machine_type,
        active=machine.active,
        build_min=tuple(_number(settings.get(f"build_min_{a}")) or 0.0 for a in "xyz"),
        build_volume=tuple(volume) if None not in volume else None,
        nozzle_diameter=_number(settings.get("nozzle_diameter")),
        loaded_materials=_names(settings.get("loaded_materials")),
        max_nozzle_temp=_number(settings.get("max_nozzle_temp")),
        max_bed_temp=_number(settings.get("max_bed_temp")),
        tags=_names(settings.get("tags")) or (),
    )


def machine_capabilities_for(*, machines: list[MachineConfig]) -> list[MachineCapabilities]:
    # The printer-3d machine type stores upper-case keys (BUILD_VOLUME_X, LOADED_MATERIALS, …).
    keys = CAPABILITY_KEYS | {key.upper() for key in CAPABILITY_KEYS}
    rows = MachineSetting.objects.filter(
        machine__in=machines, config_type=MachineSetting.ConfigType.MACHINE, key__in=keys
    ).values_list("machine_id", "key", "value")
    by_machine: dict = {m.pk: {} for m in machines}
    for machine_id, key, value in rows:
        by_machine[machine_id][key.lower()] = value
    return [_capabilities(m, by_machine[m.pk]) for m in machines]


def candidate_machines(*, constraints: JobConstraints) -> list[MachineCapabilities]:
    """Machines a job with these constraints could be sent to (before live state is considered)."""
    if constraints.target_machine_id:
        machines = list(MachineConfig.objects.filter(pk=constraints.target_machine_id))
    else:
        machines = list(MachineConfig.objects.filter(active=True, machine_type=constraints.machine_type))
    return machine_capabilities_for(machines=machines)
