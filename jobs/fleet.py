"""Reads for the staff fleet board: every machine's live state with its current job, and a queue summary.

Built for a constant number of queries whatever the fleet size: the machines with their persisted
state (one query), their live states (one cache round trip), the jobs on machines (one query), and the
queue flags and counts (two queries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, OuterRef, Q, Subquery

from jobs.estimates import format_duration, printer_job, remaining_seconds
from jobs.models import Job, QueueState
from jobs.selectors import queue_state_get
from jobs.states import (
    ACTIVE_STATES,
    PRINTING_OR_PAUSED_STATES,
    QUEUE_STATES,
    RUNNING_HERE_STATES,
    TERMINAL_STATES,
    JobState,
)
from machines.controls import PRINTING_STATUSES
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.models import MachineConfig
from machines.registry import get_registry
from machines.selectors import machine_list, machine_live_states
from machines.state import LiveState
from machines.status import describe_status
from maintenance.selectors import fleet_maintenance_summary
from materials.selectors import (
    LoadedSpool,
    loaded_spools_by_machine,
    low_stock_material_names,
    stock_by_material,
)


@dataclass(frozen=True)
class Temperature:
    name: str  # "tool0", "bed", …
    actual: float | None
    target: float | None

    @property
    def label(self) -> str:
        if self.name == "bed":
            return "Bed"
        if self.name.startswith("tool"):
            return f"Tool {self.name[4:]}"
        return self.name.capitalize()


@dataclass
class FleetCard:
    machine: MachineConfig
    state: LiveState
    status: dict  # code, label, colour, status_class (machines.status.describe_status)
    temperatures: list[Temperature] = field(default_factory=list)
    job: Job | None = None  # the job on the machine, or the finished one whose plate waits to be cleared
    job_file: str = ""  # the file as uploaded (or as the printer names a print started there)
    progress: float | None = None
    seconds_left: float | None = None
    errors: list[str] = field(default_factory=list)
    awaiting_bed_clear: bool = False
    spools: tuple[LoadedSpool, ...] = ()
    maintenance: dict = field(default_factory=dict)  # in_maintenance, reason, plan_status, plan
    controls: frozenset = frozenset()  # operator controls the driver offers (machines.controls)
    type_name: str = ""  # the machine type's readable name ("3D printer")
    tags: tuple[str, ...] = ()  # the machine's TAGS setting

    @property
    def time_left(self) -> str:
        return format_duration(self.seconds_left)

    @property
    def last_seen(self) -> datetime | None:
        return self.state.last_seen

    @property
    def stale(self) -> bool:
        return self.state.stale

    @property
    def printing(self) -> bool:
        """A print runs or holds its place: controls that move the head are refused (machines.controls)."""
        return self.status["code"] in PRINTING_STATUSES

    @property
    def job_finished(self) -> bool:
        return self.job is not None and self.job.state in TERMINAL_STATES

    @property
    def availability(self) -> str:
        """For students: "free" (takes the next fitting job), "busy" or "unavailable" (off, faulty, stale)."""
        code = self.status["code"]
        if not self.machine.active or self.stale or code is None or code >= Printer3DStatus.DISCONNECTED:
            return "unavailable"
        if self.job is None and code == Printer3DStatus.IDLE and not self.awaiting_bed_clear:
            return "free"
        return "busy"


def _tags(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[,;]", value)
    return tuple(str(item).strip() for item in value or () if str(item).strip())


def _temperatures(state: LiveState) -> list[Temperature]:
    """Per tool and bed, actual/target: from the printer's report, else from the stored properties."""
    reported = (state.data.get("printer_state") or {}).get("temperatures") or {}
    if reported:
        temps = [Temperature(name, t.get("actual"), t.get("target")) for name, t in reported.items()]
    else:
        props = {p.get("key"): p.get("value") for p in state.properties if p.get("group") == "temperatures"}
        temps = [
            Temperature(key, value, props.get(f"{key}_target"))
            for key, value in props.items()
            if not key.endswith("_target")
        ]
    return sorted(temps, key=lambda t: (t.name == "bed", t.name))


def awaiting_bed_clear(state: LiveState, code: int | None = None) -> bool:
    """The bed-clear flag (jobs.services.bed), the status, or the printer itself says the plate is full."""
    code = state.status if code is None else code
    printer_status = (state.data.get("printer_state") or {}).get("status")
    return (
        bool(state.data.get(BED_CLEAR_REQUIRED))
        or code == Printer3DStatus.AWAITING_BED_CLEAR
        or printer_status == "awaiting_bed_clear"
    )


def machines_awaiting_bed_clear(*, machine_ids: list) -> list[MachineConfig]:
    """Those of the machines whose plate waits to be cleared (two queries at most, however many)."""
    if not machine_ids:
        return []
    machines = list(machine_list().filter(pk__in=machine_ids))
    states = machine_live_states(machines)
    return [m for m in machines if awaiting_bed_clear(states[str(m.pk)])]


def _last_jobs(machine_ids: list) -> dict:
    """The last print that ended on each machine (one query, however many): the job on a full plate."""
    if not machine_ids:
        return {}
    latest = (
        Job.objects.filter(machine=OuterRef("machine"), state__in=TERMINAL_STATES, started_at__isnull=False)
        .order_by("-finished_at", "-started_at")
        .values("pk")[:1]
    )
    jobs = Job.objects.filter(machine_id__in=machine_ids, pk=Subquery(latest)).select_related("owner")
    return {job.machine_id: job for job in jobs}


def fleet_cards(machines: list[MachineConfig] | None = None) -> list[FleetCard]:
    """One card per machine (all by default, loaded with ``machine_list()``), in name order, with its
    loaded spools and maintenance state."""
    registry = get_registry()
    machines = list(machine_list()) if machines is None else machines
    states = machine_live_states(machines)
    spools = loaded_spools_by_machine([m.pk for m in machines])
    low = {name.lower() for name in low_stock_material_names()}
    maintenance = fleet_maintenance_summary(machines)
    jobs: dict = {}
    for job in (
        Job.objects.filter(state__in=ACTIVE_STATES, machine__isnull=False)
        .select_related("owner")
        .order_by("started_at", "created_at")
    ):
        jobs.setdefault(job.machine_id, job)
    plates = [m.pk for m in machines if m.pk not in jobs and awaiting_bed_clear(states[str(m.pk)])]
    jobs.update(_last_jobs(plates))
    cards = []
    for machine in machines:
        state = states[str(machine.pk)]
        type_cls = registry.get_machine_type(machine.machine_type)
        code = state.status
        if code is None and type_cls is not None:
            code = int(type_cls.default_machine_status)
        loaded = registry.get_machine(machine.pk)
        config_errors = loaded.config_errors if loaded is not None else []
        job = jobs.get(machine.pk)
        reported = printer_job(state)
        progress = reported.get("progress")
        if progress is None and job is not None:
            progress = job.progress
        seconds_left = None
        if job is not None and job.state in TERMINAL_STATES:
            progress = job.progress
        if job is not None and job.state in PRINTING_OR_PAUSED_STATES:
            estimate = (job.metadata or {}).get("estimated_time_s")
            seconds_left = remaining_seconds(estimate=estimate, progress=progress, state=state)
        elif reported.get("time_left") is not None:
            seconds_left = float(reported["time_left"])
        cards.append(
            FleetCard(
                machine=machine,
                state=state,
                status=describe_status(type_cls.MACHINE_STATUS if type_cls else None, code),
                temperatures=_temperatures(state),
                job=job,
                job_file=(job.original_name or job.name) if job else reported.get("file_name", ""),
                progress=progress,
                seconds_left=seconds_left,
                errors=[*config_errors, *state.errors],
                awaiting_bed_clear=awaiting_bed_clear(state, code),
                spools=tuple(
                    LoadedSpool(**{**s.__dict__, "low_stock": s.material.lower() in low})
                    for s in spools.get(str(machine.pk), ())
                ),
                maintenance=maintenance.get(str(machine.pk), {}),
                controls=loaded.driver.controls(loaded)
                if loaded is not None and hasattr(loaded.driver, "controls")
                else frozenset(),
                type_name=(type_cls.NAME or machine.machine_type) if type_cls else machine.machine_type,
                tags=_tags(loaded.settings.get("TAGS")) if loaded is not None else (),
            )
        )
    return cards


@dataclass(frozen=True)
class FleetFilter:
    """The board's filters, from the query string (so a filtered board can be bookmarked and shared)."""

    q: str = ""  # part of the machine's name, its job's name or owner
    status: str = ""  # a status code, e.g. "111"
    machine_type: str = ""  # a machine type slug
    tag: str = ""

    @classmethod
    def from_query(cls, query) -> FleetFilter:
        return cls(
            q=(query.get("q") or "").strip()[:100],
            status=(query.get("status") or "").strip()[:10],
            machine_type=(query.get("type") or "").strip()[:100],
            tag=(query.get("tag") or "").strip()[:50],
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.machine_type or self.tag)

    def matches(self, card: FleetCard) -> bool:
        if self.status and str(card.status["code"]) != self.status:
            return False
        if self.machine_type and card.machine.machine_type != self.machine_type:
            return False
        if self.tag and self.tag.lower() not in {tag.lower() for tag in card.tags}:
            return False
        if self.q:
            words = [card.machine.name, card.job_file]
            if card.job is not None:
                words += [card.job.name, card.job.owner.username if card.job.owner else ""]
            return self.q.lower() in " ".join(words).lower()
        return True


def fleet_filter_choices(cards: list[FleetCard]) -> dict:
    """What the filters offer: the statuses, types and tags the fleet has now."""
    statuses = {
        card.status["code"]: card.status["label"] for card in cards if card.status["code"] is not None
    }
    return {
        "statuses": sorted(statuses.items()),
        "types": sorted({(card.machine.machine_type, card.type_name) for card in cards}, key=lambda t: t[1]),
        "tags": sorted({tag for card in cards for tag in card.tags}, key=str.lower),
    }


@dataclass(frozen=True)
class QueueSummary:
    flags: QueueState
    waiting: int
    awaiting_approval: int
    running: int
    paused: int
    low_stock: tuple[dict, ...] = ()


def queue_summary() -> QueueSummary:
    counts = Job.objects.filter(state__in=QUEUE_STATES | ACTIVE_STATES).aggregate(
        waiting=Count("pk", filter=Q(state=JobState.QUEUED)),
        awaiting_approval=Count("pk", filter=Q(state=JobState.AWAITING_APPROVAL)),
        running=Count("pk", filter=Q(state__in=RUNNING_HERE_STATES)),
        paused=Count("pk", filter=Q(state=JobState.PAUSED)),
    )
    low = tuple(row for row in stock_by_material() if row["low_stock"])
    return QueueSummary(flags=queue_state_get(), low_stock=low, **counts)
