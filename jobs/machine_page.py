"""Reads for a machine's page (/machines/<id>/, staff): its live card, the jobs it printed, its recent
events, what the driver reports and its settings (secrets never shown).

No temperature history is stored anywhere (only the latest live state), so the page has no chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.shortcuts import get_object_or_404

from events.models import Event
from jobs.estimates import format_duration
from jobs.fleet import FleetCard, fleet_cards
from jobs.models import Job
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


@dataclass
class MachinePage:
    card: FleetCard
    history: list[Job] = field(default_factory=list)  # each with .duration ("1 h 05 min"; "" while it runs)
    events: list[Event] = field(default_factory=list)
    properties: list[dict] = field(default_factory=list)  # what the driver reports: group, key, value
    settings: list[SettingRow] = field(default_factory=list)


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
        history=history,
        events=events,
        properties=properties,
        settings=machine_settings_rows(machine),
    )
