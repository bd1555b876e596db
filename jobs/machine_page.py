"""Reads for a machine's page (/machines/<id>/, staff): its live card, its camera, a chart of its
temperatures over the last hours (server-rendered SVG from machines.temperatures), the jobs it printed,
its recent events, what the driver reports and its settings (secrets never shown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.shortcuts import get_object_or_404

from events.models import Event
from jobs.estimates import format_duration
from jobs.fleet import FleetCard, fleet_cards
from jobs.models import Job
from jobs.states import ACTIVE_STATES
from machines import temperatures
from machines.camera import camera_expected
from machines.registry import get_registry
from machines.selectors import machine_list

HISTORY_SHOWN = 25
EVENTS_SHOWN = 20
SECRET_SHOWN = "set, hidden"  # noqa: S105 - what the page shows for a secret that has a value


@dataclass(frozen=True)
class SettingRow:
    key: str
    name: str
    owner: str  # "Machine" (its type's settings) or "Driver"
    value: str
    secret: bool = False
    is_set: bool = False


@dataclass(frozen=True)
class ChartLine:
    sensor: str  # "tool0", "bed"
    label: str  # "Tool 0", "Bed"
    points: str  # SVG polyline points
    last: float
    style: int  # 0…3: its colour and dash pattern (site.css), so lines differ without colour too


@dataclass(frozen=True)
class TemperatureChart:
    lines: list[ChartLine]
    start: datetime
    end: datetime
    y_ticks: list[tuple[float, str]]  # (y in the drawing, label)
    width: int = 600
    height: int = 200
    left: int = 44  # room for the labels
    bottom: int = 180  # the plot's lower edge (labels under it)

    @property
    def summary(self) -> str:
        latest = ", ".join(f"{line.label} {line.last:.0f} °C" for line in self.lines)
        return f"Temperatures from {self.start:%H:%M} to {self.end:%H:%M} UTC; latest {latest}"


def temperature_chart(samples: list[tuple[datetime, dict[str, float]]]) -> TemperatureChart | None:
    """Polylines of each sensor over the samples' time span (None with fewer than two samples)."""
    if len(samples) < 2:
        return None
    width, left, top, bottom = 600, 44, 8, 180
    start, end = samples[0][0], samples[-1][0]
    span = (end - start).total_seconds() or 1.0
    values = [value for _, reading in samples for value in reading.values()]
    low = math.floor(min(values) / 10) * 10
    high = max(math.ceil(max(values) / 10) * 10, low + 10)
    step = next(s for s in (10, 20, 25, 50, 100, 200) if (high - low) / s <= 5)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step

    def x(at: datetime) -> float:
        return left + (width - left - 4) * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    sensors = sorted({name for _, reading in samples for name in reading}, key=lambda n: (n == "bed", n))
    lines = []
    for index, sensor in enumerate(sensors):
        points = [(x(at), y(reading[sensor])) for at, reading in samples if sensor in reading]
        last = next(reading[sensor] for _, reading in reversed(samples) if sensor in reading)
        label = "Bed" if sensor == "bed" else f"Tool {sensor[4:]}" if sensor.startswith("tool") else sensor
        lines.append(
            ChartLine(
                sensor=sensor,
                label=label,
                points=" ".join(f"{px:.1f},{py:.1f}" for px, py in points),
                last=last,
                style=index % 4,
            )
        )
    ticks = [(y(value), f"{value:g}") for value in range(int(low), int(high) + 1, int(step))]
    return TemperatureChart(lines=lines, start=start, end=end, y_ticks=ticks)


@dataclass
class MachinePage:
    card: FleetCard
    chart: TemperatureChart | None = None
    history: list[Job] = field(default_factory=list)  # each with .duration ("1 h 05 min"; "" while it runs)
    events: list[Event] = field(default_factory=list)
    properties: list[dict] = field(default_factory=list)  # what the driver reports: group, key, value
    settings: list[SettingRow] = field(default_factory=list)
    camera: bool = (
        False  # show the camera picture (machines.camera: a URL is set or the driver may report one)
    )


def _text(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "—"
    return str(value)


def machine_settings_rows(machine) -> list[SettingRow]:
    """Every setting the machine's type and driver define, with its value; secrets only say whether set."""
    registry = get_registry()
    definitions = registry.definitions_for(machine.machine_type, machine.driver)
    stored = {(s.config_type, s.key) for s in machine.settings.all()}
    loaded = registry.get_machine(machine.pk)
    values = loaded.settings if loaded is not None else {}
    rows = []
    for key, definition in definitions.items():
        is_set = (definition.config_type, key) in stored
        if definition.secret:
            value = SECRET_SHOWN if is_set else "not set"
        else:
            value = _text(values.get(key, definition.default))
        rows.append(
            SettingRow(
                key=key,
                name=definition.name or key,
                owner="Driver" if definition.config_type == "D" else "Machine",
                value=value,
                secret=definition.secret,
                is_set=is_set,
            )
        )
    return sorted(rows, key=lambda row: (row.owner != "Machine", row.name.lower()))


def machine_page(machine_id) -> MachinePage:
    """The page's reads for one machine (404 when there is none)."""
    machine = get_object_or_404(machine_list(), pk=machine_id)
    card = fleet_cards([machine])[0]
    history = list(
        Job.objects.filter(machine=machine, started_at__isnull=False)
        .select_related("owner")
        .order_by("-started_at")[:HISTORY_SHOWN]
    )
    for job in history:
        seconds = (job.finished_at - job.started_at).total_seconds() if job.finished_at else None
        job.duration = format_duration(seconds)
    events = list(Event.objects.filter(machine_id=machine.pk).order_by("-sequence")[:EVENTS_SHOWN])
    properties = [
        {
            "group": p.get("group") or "",
            "key": p.get("key") or "",
            "value": _text(p.get("value"))
            + (f" {p['unit']}" if p.get("unit") and p.get("value") is not None else ""),
        }
        for p in card.state.properties
    ]
    return MachinePage(
        card=card,
        chart=temperature_chart(temperatures.history(machine.pk)),
        history=history,
        events=events,
        properties=properties,
        settings=machine_settings_rows(machine),
        camera=machine_has_camera(machine.pk),
    )


def machine_has_camera(machine_id) -> bool:
    """Is a camera picture worth showing for this machine (no network: see machines.camera)?"""
    loaded = get_registry().get_machine(machine_id)
    return loaded is not None and camera_expected(loaded)


def camera_visible_to(*, user, machine_id) -> bool:
    """Who sees a machine's camera: staff, and a user whose job is on the machine now (dispatched,
    printing, paused); not the next student once their print is over, not the public board."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return Job.objects.filter(machine_id=machine_id, owner=user, state__in=ACTIVE_STATES).exists()
