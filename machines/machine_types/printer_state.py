"""The normalized state every 3D-printer driver reports, whatever API the printer speaks.

Drivers map their printer's own strings into ``PrinterStatus``; anything they do not recognise becomes
``UNKNOWN`` with a warning naming the string, never an exception (a transient state string must not
take a worker down).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class PrinterStatus(enum.StrEnum):
    IDLE = "idle"
    HEATING = "heating"
    PRINTING = "printing"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    FINISHING = "finishing"
    AWAITING_BED_CLEAR = "awaiting_bed_clear"
    DISCONNECTED = "disconnected"
    ERROR = "error"
    UNKNOWN = "unknown"


# Statuses in which the printer is working on a job (the reconciler treats them as "job running").
ACTIVE_STATUSES = frozenset(
    {
        PrinterStatus.HEATING,
        PrinterStatus.PRINTING,
        PrinterStatus.PAUSING,
        PrinterStatus.PAUSED,
        PrinterStatus.CANCELLING,
        PrinterStatus.FINISHING,
    }
)


@dataclass(frozen=True)
class Temperature:
    actual: float | None
    target: float | None


@dataclass(frozen=True)
class PrinterJobInfo:
    """The job as the printer sees it."""

    file_name: str
    progress: float | None = None  # 0-100
    time_used: float | None = None  # seconds
    time_left: float | None = None  # seconds


@dataclass(frozen=True)
class PrinterState:
    status: PrinterStatus
    # Keys: "tool0", "tool1", … and "bed". Nozzle and bed values are never mixed up.
    temperatures: dict[str, Temperature] = field(default_factory=dict)
    job: PrinterJobInfo | None = None
    raw_state: str = ""  # the printer's own state text, for staff and for debugging
    message: str = ""  # human-readable detail (error text, reason for disconnected)

    def as_dict(self) -> dict:
        """What ``dataclasses.asdict`` gives, with the status as its text; spelled out because
        ``asdict`` (recursive, copying every value) cost ~10 % of a poll's CPU."""
        job = self.job
        return {
            "status": self.status.value,
            "temperatures": {
                name: {"actual": t.actual, "target": t.target} for name, t in self.temperatures.items()
            },
            "job": None
            if job is None
            else {
                "file_name": job.file_name,
                "progress": job.progress,
                "time_used": job.time_used,
                "time_left": job.time_left,
            },
            "raw_state": self.raw_state,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PrinterState:
        job = data.get("job")
        return cls(
            status=PrinterStatus(data["status"]),
            temperatures={k: Temperature(**v) for k, v in (data.get("temperatures") or {}).items()},
            job=PrinterJobInfo(**job) if job else None,
            raw_state=data.get("raw_state", ""),
            message=data.get("message", ""),
        )


@dataclass(frozen=True)
class PrinterCapabilities:
    can_pause: bool = True
    has_camera: bool = False
    pushes_updates: bool = False
    max_file_size: int | None = None  # bytes; None when the printer states no limit


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int | None = None
    sha256: str | None = None  # when the printer API can report it


class PrinterError(Exception):
    """Base of every error a printer client raises; the message is shown to staff."""


class PrinterUnreachable(PrinterError):
    """Connection refused, DNS failure, or a connect/read timeout."""


class PrinterUnauthorized(PrinterError):
    """The printer refused our credentials (401/403)."""


class PrinterRejected(PrinterError):
    """The printer understood the request and refused it (409 busy, 404 no such file, …)."""


class PrinterBadResponse(PrinterError):
    """The printer answered with something we cannot read (500, malformed JSON, missing fields)."""
