"""The bridge's input: plain snapshots, so machines/jobs stay unaware of OPC UA.

Whoever knows a machine's live state (the registry, the reconciler) builds a ``MachineSnapshot``
and calls ``opcua.services.opcua_publish_machine(snapshot=...)`` whenever it polled; only the
variables that changed are queued for OPC UA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# StatusCode numbers are the machine registry's (machines.machine_types.printer_3d.Printer3DStatus),
# so SCADA sees the same numbers as the API. This table is the fallback for snapshots that carry only
# the status string. Never renumber: SCADA programs compare against these numbers.
STATUS_CODES: dict[str, int] = {
    "idle": 100,
    "heating": 110,
    "printing": 111,
    "pausing": 112,
    "cancelling": 113,
    "finishing": 114,
    "paused": 200,
    "awaiting_bed_clear": 201,
    "disconnected": 300,
    "error": 301,
    "driver_error": 400,
    "unauthorized": 401,
    "unknown": 500,
}

_TEMPERATURE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def status_code_for(status: str) -> int:
    return STATUS_CODES.get(status, STATUS_CODES["unknown"])


def temperature_node_name(name: str) -> str:
    """``tool0`` -> ``Tool0``, ``bed`` -> ``Bed``: the driver keys as OPC UA browse names."""
    if not _TEMPERATURE_NAME.match(name):
        raise ValueError(
            f"temperature name {name!r} must start with a letter and contain only letters, digits "
            "and underscores (max 32 characters)"
        )
    return name[0].upper() + name[1:]


@dataclass(frozen=True)
class JobSnapshot:
    id: str
    file: str
    owner: str
    state: str
    progress: float | None = None  # percent, 0-100
    time_used: float | None = None  # seconds
    time_left: float | None = None  # seconds


@dataclass(frozen=True)
class MachineSnapshot:
    id: str  # the machine's UUID: node ids are built from it, so renames never move nodes
    name: str
    status: str
    status_text: str = ""
    online: bool = False
    last_seen: datetime | None = None
    # "tool0"/"bed"/... -> (actual, target) in degrees Celsius; None = unknown
    temperatures: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    job: JobSnapshot | None = None
    awaiting_bed_clear: bool = False
    status_code: int | None = None  # default: status_code_for(status)


@dataclass(frozen=True)
class QueueSnapshot:
    length: int  # jobs waiting for a machine
    running: int  # jobs on a machine right now
    paused: bool  # the scheduler dispatches nothing while true
