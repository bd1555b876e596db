"""A short temperature history per machine, for the machine page's chart (nothing else keeps readings).

Each write of a machine's live state may add a sample: at most one every
``MACHINES_TEMPERATURE_SAMPLE_SECONDS`` (default 60) per machine. The process that polls a machine
remembers when it last sampled it, so most polls cost nothing; a sample is one cache read and one
write. The cache keeps the last ``KEEP`` samples per machine (four hours at the default), and forgets
them when the machine is deleted or the cache is flushed: a picture of the last hours, not a record.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

from machines.state import LiveState

KEEP = 240
DEFAULT_SAMPLE_SECONDS = 60.0
_last_sampled: dict[str, float] = {}  # machine id -> time.monotonic() of its last sample, this process


def _key(machine_id) -> str:
    return f"machines:temperatures:{machine_id}"


def readings(state: LiveState) -> dict[str, float]:
    """The actual temperatures a state reports, by sensor ("tool0", "bed"…)."""
    reported = (state.data.get("printer_state") or {}).get("temperatures") or {}
    if reported:
        values = {name: t.get("actual") for name, t in reported.items() if isinstance(t, dict)}
    else:
        values = {
            p.get("key"): p.get("value")
            for p in state.properties
            if p.get("group") == "temperatures" and not str(p.get("key", "")).endswith("_target")
        }
    return {str(name): float(value) for name, value in values.items() if isinstance(value, int | float)}


def record(machine_id, state: LiveState, *, now: float | None = None) -> bool:
    """Add a sample of ``state``'s temperatures when the last one is old enough; True when it did."""
    values = readings(state)
    if not values:
        return False
    every = float(getattr(settings, "MACHINES_TEMPERATURE_SAMPLE_SECONDS", DEFAULT_SAMPLE_SECONDS))
    clock = time.monotonic()
    key = str(machine_id)
    if key in _last_sampled and clock - _last_sampled[key] < every:
        return False
    _last_sampled[key] = clock
    samples = cache.get(_key(key)) or []
    samples.append((now if now is not None else time.time(), values))
    cache.set(_key(key), samples[-KEEP:], timeout=max(every, 1) * KEEP * 2)
    return True


def history(machine_id) -> list[tuple[datetime, dict[str, float]]]:
    """The samples kept for the machine, oldest first."""
    return [(datetime.fromtimestamp(at, tz=UTC), values) for at, values in cache.get(_key(machine_id)) or []]


def forget(machine_id) -> None:
    _last_sampled.pop(str(machine_id), None)
    cache.delete(_key(machine_id))


def on_machine_state_changed(sender, machine, old: LiveState, new: LiveState, **kwargs) -> None:
    record(machine.id, new)
