"""Machine status codes. The hundreds digit says how bad it is; each code has a label and a colour."""

from __future__ import annotations

import enum


class StatusClass(enum.StrEnum):
    OK = "ok"  # 1xx
    WARNING = "warning"  # 2xx
    MACHINE_FAULT = "machine_fault"  # 3xx: the machine has a problem (unreachable, error state)
    DRIVER_FAULT = "driver_fault"  # 4xx: our side has a problem (bad credentials, driver bug)
    UNKNOWN = "unknown"  # 5xx

    @classmethod
    def for_code(cls, code: int) -> StatusClass:
        return _CLASS_BY_HUNDREDS.get(code // 100, cls.UNKNOWN)


_CLASS_BY_HUNDREDS = {
    1: StatusClass.OK,
    2: StatusClass.WARNING,
    3: StatusClass.MACHINE_FAULT,
    4: StatusClass.DRIVER_FAULT,
    5: StatusClass.UNKNOWN,
}

# Colours are Bootstrap context names, also used by the admin badges.
COLOURS = ("success", "primary", "info", "warning", "danger", "secondary", "dark")


class MachineStatus(enum.IntEnum):
    """Base for a machine type's status codes. Members are ``NAME = code, "Label", "colour"``.

    Example::

        class MyStatus(MachineStatus):
            READY = 100, "Ready", "success"
            OFFLINE = 300, "Offline", "danger"
    """

    def __new__(cls, code: int, label: str, colour: str = "secondary"):
        obj = int.__new__(cls, code)
        obj._value_ = code
        obj.label = label
        obj.colour = colour
        return obj

    @property
    def status_class(self) -> StatusClass:
        return StatusClass.for_code(int(self))

    @classmethod
    def problems(cls) -> list[str]:
        """Why these codes are unusable (empty when they are fine); checked at registration."""
        problems = []
        for member in cls:
            if not 100 <= int(member) <= 599:
                problems.append(f"status {member.name}={int(member)} is outside 100-599")
            if member.colour not in COLOURS:
                problems.append(
                    f"status {member.name} has colour {member.colour!r}; use one of {list(COLOURS)}"
                )
        return problems


def describe_status(status_enum: type[MachineStatus] | None, code: int | None) -> dict:
    """Label, colour and class for a code, also for codes a type does not (or no longer) define."""
    if code is None:
        return {"code": None, "label": "Unknown", "colour": "secondary", "status_class": StatusClass.UNKNOWN}
    member = None
    if status_enum is not None:
        try:
            member = status_enum(code)
        except ValueError:
            member = None
    return {
        "code": code,
        "label": member.label if member else f"Status {code}",
        "colour": member.colour if member else "secondary",
        "status_class": StatusClass.for_code(code),
    }
