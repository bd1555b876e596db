"""The address space as data: which variable keys exist, their node ids, types and browse names.

A *key* is the path below ``Objects/LabMES`` with ``/`` separators, a machine appearing under its UUID
(``Machines/<uuid>/Job/Progress``). The string node id is ``LabMES.`` + the key with dots, so it
depends on the UUID only: renames never move a node and two machines never collide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

ROOT_NAME = "LabMES"

STRING, INT32, DOUBLE, BOOLEAN, DATETIME = "String", "Int32", "Double", "Boolean", "DateTime"

MACHINE_VARIABLES: dict[str, str] = {
    "Status": STRING,
    "StatusCode": INT32,
    "StatusText": STRING,
    "Online": BOOLEAN,
    "LastSeen": DATETIME,
    "AwaitingBedClear": BOOLEAN,
}
JOB_VARIABLES: dict[str, str] = {
    "Id": STRING,
    "File": STRING,
    "Owner": STRING,
    "State": STRING,
    "Progress": DOUBLE,
    "TimeUsed": DOUBLE,
    "TimeLeft": DOUBLE,
}
TEMPERATURE_VARIABLES: dict[str, str] = {"Actual": DOUBLE, "Target": DOUBLE}
QUEUE_VARIABLES: dict[str, str] = {"Length": INT32, "Running": INT32, "Paused": BOOLEAN}
MACHINE_METHODS = ("BedCleared", "Pause", "Resume", "Cancel")

# Job variables whose changes mark the job's life cycle: never coalesced in the outbox.
EVENT_VARIABLES = frozenset({"Id", "State"})


@dataclass(frozen=True)
class NodeSpec:
    key: str
    kind: str  # "folder" | "object" | "variable"
    datatype: str = ""
    browse_name: str = ""  # "" for a machine: its name comes from the published state

    @property
    def parent(self) -> str | None:
        if not self.key:
            return None
        return self.key.rpartition("/")[0]


def node_id_string(key: str) -> str:
    return f"{ROOT_NAME}.{key.replace('/', '.')}" if key else ROOT_NAME


def key_from_node_id_string(identifier: str) -> str | None:
    if identifier == ROOT_NAME:
        return ""
    prefix = ROOT_NAME + "."
    if not identifier.startswith(prefix):
        return None
    return identifier[len(prefix) :].replace(".", "/")


def machine_key(machine_id: str) -> str:
    return f"Machines/{machine_id}"


def machine_id_of(key: str) -> str | None:
    parts = key.split("/")
    if len(parts) >= 2 and parts[0] == "Machines":
        return parts[1]
    return None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def spec_for(key: str) -> NodeSpec:
    """The node a key names; ValueError for keys outside the documented address space."""
    parts = key.split("/") if key else []
    n = len(parts)
    if n == 0:
        return NodeSpec(key, "folder", browse_name=ROOT_NAME)
    if parts[0] == "Queue":
        if n == 1:
            return NodeSpec(key, "folder", browse_name="Queue")
        if n == 2 and parts[1] in QUEUE_VARIABLES:
            return NodeSpec(key, "variable", QUEUE_VARIABLES[parts[1]], parts[1])
    elif parts[0] == "Machines":
        if n == 1:
            return NodeSpec(key, "folder", browse_name="Machines")
        if not _is_uuid(parts[1]):
            raise ValueError(f"{key!r}: machines are addressed by UUID")
        if n == 2:
            return NodeSpec(key, "object")
        if n == 3:
            if parts[2] in MACHINE_VARIABLES:
                return NodeSpec(key, "variable", MACHINE_VARIABLES[parts[2]], parts[2])
            if parts[2] in ("Temperatures", "Job"):
                return NodeSpec(key, "folder", browse_name=parts[2])
        if n == 4 and parts[2] == "Job" and parts[3] in JOB_VARIABLES:
            return NodeSpec(key, "variable", JOB_VARIABLES[parts[3]], parts[3])
        if n == 4 and parts[2] == "Temperatures":
            return NodeSpec(key, "object", browse_name=parts[3])
        if n == 5 and parts[2] == "Temperatures" and parts[4] in TEMPERATURE_VARIABLES:
            return NodeSpec(key, "variable", TEMPERATURE_VARIABLES[parts[4]], parts[4])
    raise ValueError(f"{key!r} is not a node of the Lab MES address space")


def is_event_key(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 4 and parts[0] == "Machines" and parts[2] == "Job" and parts[3] in EVENT_VARIABLES
