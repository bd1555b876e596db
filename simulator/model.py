"""A simulated 3D printer whose state advances lazily from timestamps.

No printer has a timer: every read calls ``advance()``, which replays what happened since the last
read (heating done, print finished, pause settled…). A thousand idle printers cost nothing.
Times inside the model are *simulated seconds* (``SimClock``: wall time multiplied by the speed factor).
"""

from __future__ import annotations

import enum
import hashlib
import re
import time
from dataclasses import dataclass, field

AMBIENT = 21.0
TOOL_RATE = 4.0  # °C per simulated second, heating the nozzle
BED_RATE = 1.0
COOL_RATE = 0.5
TRANSIENT = 1.0  # simulated seconds spent pausing, cancelling, finishing
BYTES_PER_SECOND = 2000.0  # a G-code with no time hint prints at this rate
MIN_DURATION = 5.0

FAULT_KEYS = {
    "offline": "bool: close every connection without an answer (the printer's network is gone)",
    "slow": "seconds: delay every answer by this long",
    "timeout": "seconds: hold every request this long before answering (true = 60)",
    "http_500": "bool: answer every request with HTTP 500",
    "malformed_json": "bool: answer JSON requests with a truncated JSON body",
    "flapping": "seconds: the state alternates between the real one and a disconnected one each period (true = 1)",
    "unknown_state": "text: report this state string instead of the real one",
    "firmware_error": "text: the firmware halts with this message (removing the fault reconnects)",
}


class Phase(enum.StrEnum):
    IDLE = "idle"
    HEATING = "heating"
    PRINTING = "printing"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    FINISHING = "finishing"
    FINISHED = "finished"  # job done, part on the bed
    STOPPED = "stopped"  # job cancelled, part on the bed
    ERROR = "error"


BUSY_PHASES = frozenset(
    {Phase.HEATING, Phase.PRINTING, Phase.PAUSING, Phase.PAUSED, Phase.CANCELLING, Phase.FINISHING}
)


class SimConflict(Exception):
    """The printer refuses the command in its current state (HTTP 409 in every personality)."""


class SimClock:
    def __init__(self, speed: float = 1.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.speed


@dataclass
class SimFile:
    name: str
    size: int
    sha256: str
    sha1: str
    duration: float
    tool_target: float = 0.0
    bed_target: float = 0.0
    uploaded_at: float = field(default_factory=time.time)


_TIME_PARTS = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_WORD = re.compile(rb"([A-Z])(-?\d+(?:\.\d+)?)")


class GcodeScanner:
    """Reads a G-code stream chunk by chunk: hashes, size, duration hints and heater targets."""

    def __init__(self):
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1()  # noqa: S324 - OctoPrint reports SHA-1 file hashes
        self._tail = b""
        self.estimated: float | None = None
        self.dwell = 0.0
        self.tool_target = 0.0
        self.bed_target = 0.0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._sha256.update(chunk)
        self._sha1.update(chunk)
        data = self._tail + chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        line = raw.strip()
        if not line:
            return
        if line.startswith(b";"):
            lower = line.lower()
            if self.estimated is None and b"estimated printing time" in lower and b"=" in lower:
                text = lower.split(b"=", 1)[1].decode("ascii", "replace")
                total = sum(float(n) * _UNIT[u] for n, u in _TIME_PARTS.findall(text))
                self.estimated = total or None
            elif self.estimated is None and lower.startswith(b";time:"):
                try:
                    self.estimated = float(lower[6:]) or None
                except ValueError:
                    self.estimated = None
            return
        code = line.split(b";", 1)[0].upper()
        if code.startswith(b"G4 ") or code == b"G4":
            words = dict(_WORD.findall(code[2:]))
            self.dwell += float(words.get(b"S", 0)) + float(words.get(b"P", 0)) / 1000.0
        elif code.startswith((b"M104", b"M109")) and not self.tool_target:
            self.tool_target = float(dict(_WORD.findall(code[4:])).get(b"S", 0))
        elif code.startswith((b"M140", b"M190")) and not self.bed_target:
            self.bed_target = float(dict(_WORD.findall(code[4:])).get(b"S", 0))

    def finish(self, name: str) -> SimFile:
        if self._tail:
            self._line(self._tail)
            self._tail = b""
        duration = self.estimated or self.dwell or max(MIN_DURATION, self.size / BYTES_PER_SECOND)
        return SimFile(
            name=name,
            size=self.size,
            sha256=self._sha256.hexdigest(),
            sha1=self._sha1.hexdigest(),
            duration=duration,
            tool_target=self.tool_target,
            bed_target=self.bed_target,
        )


def scan_bytes(name: str, data: bytes) -> SimFile:
    scanner = GcodeScanner()
    scanner.feed(data)
    return scanner.finish(name)


class Heater:
    """Temperature moving linearly towards its target (or ambient when off), computed on demand."""

    __slots__ = ("_since", "_start", "rate", "target")

    def __init__(self, rate: float):
        self.rate = rate
        self.target = 0.0
        self._start = AMBIENT
        self._since = 0.0

    def actual(self, now: float) -> float:
        goal = self.target if self.target > 0 else AMBIENT
        rate = self.rate if goal > self._start else COOL_RATE
        moved = rate * max(0.0, now - self._since)
        value = min(goal, self._start + moved) if goal > self._start else max(goal, self._start - moved)
        return round(value, 1)

    def set_target(self, target: float, now: float) -> None:
        self._start = self.actual(now)
        self._since = now
        self.target = float(target)

    def seconds_to_target(self, now: float) -> float:
        if self.target <= 0:
            return 0.0
        return max(0.0, (self.target - self.actual(now)) / self.rate)


@dataclass
class SimJob:
    id: int
    file: SimFile
    manual: bool
    started_at: float  # simulated time the job was started
    printed: float = 0.0  # simulated seconds of printing done before the current segment
    segment_start: float | None = None  # when the current printing segment began
    ended_at: float | None = None

    def printed_at(self, now: float) -> float:
        running = (now - self.segment_start) if self.segment_start is not None else 0.0
        return min(self.file.duration, self.printed + running)

    def progress(self, now: float) -> float:
        return round(100.0 * self.printed_at(now) / self.file.duration, 2) if self.file.duration else 100.0


class SimPrinter:
    def __init__(self, index: int, personality: str, api_key: str, clock: SimClock, fleet_counters: dict):
        self.index = index
        self.personality = personality
        self.api_key = api_key
        self.clock = clock
        self.files: dict[str, SimFile] = {}
        self.phase = Phase.IDLE
        self.phase_until: float | None = None  # end of a transient phase or of heating
        self.job: SimJob | None = None
        self.last_job: SimJob | None = None
        self.tool = Heater(TOOL_RATE)
        self.bed = Heater(BED_RATE)
        self.bed_clear = True
        self.error_message = ""
        self.faults: dict = {}
        self.prints_started = 0
        self.manual_prints_started = 0
        self.dirty_bed_starts = 0
        self.starts_by_file: dict[str, int] = {}
        self._job_ids = 0
        self._fleet = fleet_counters
        self.hands = None  # what staff did by hand (simulator.controls), made on first use

    # --- time ------------------------------------------------------------------------------------

    def advance(self) -> float:
        """Replay every transition due by now; return the current simulated time."""
        now = self.clock.now()
        for _ in range(8):  # at most a few transitions can be due at once
            if not self._step(now):
                break
        return now

    def _step(self, now: float) -> bool:
        job = self.job
        if self.phase is Phase.HEATING and self.phase_until is not None and now >= self.phase_until:
            self.phase = Phase.PRINTING
            job.segment_start = self.phase_until
            self.phase_until = None
            return True
        if self.phase is Phase.PRINTING and job is not None:
            end = job.segment_start + (job.file.duration - job.printed)
            if now >= end:
                job.printed = job.file.duration
                job.segment_start = None
                self._enter(Phase.FINISHING, end + TRANSIENT)
                return True
            return False
        if self.phase in (Phase.PAUSING, Phase.CANCELLING, Phase.FINISHING) and now >= self.phase_until:
            settled_at = self.phase_until
            if self.phase is Phase.PAUSING:
                self._enter(Phase.PAUSED, None)
            else:
                self._end_job(Phase.FINISHED if self.phase is Phase.FINISHING else Phase.STOPPED, settled_at)
            return True
        return False

    def _enter(self, phase: Phase, until: float | None) -> None:
        self.phase = phase
        self.phase_until = until

    def _end_job(self, phase: Phase, at: float) -> None:
        self.job.ended_at = at
        self.last_job = self.job
        self.job = None
        self.tool.set_target(0, at)
        self.bed.set_target(0, at)
        self._enter(phase, None)

    # --- commands --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.phase in BUSY_PHASES

    def store_file(self, file: SimFile, *, overwrite: bool = True) -> None:
        self.advance()
        if self.job is not None and self.job.file.name == file.name:
            raise SimConflict(f"{file.name} is being printed")
        if not overwrite and file.name in self.files:
            raise SimConflict(f"{file.name} already exists")
        self.files[file.name] = file

    def delete_file(self, name: str) -> None:
        self.advance()
        if name not in self.files:
            raise KeyError(name)
        if self.job is not None and self.job.file.name == name:
            raise SimConflict(f"{name} is being printed")
        del self.files[name]

    def start(self, name: str, *, manual: bool = False, file: SimFile | None = None) -> SimJob:
        now = self.advance()
        if self.phase is Phase.ERROR:
            raise SimConflict(f"printer is in error: {self.error_message}")
        if self.busy:
            raise SimConflict("printer is busy with another job")
        file = file or self.files.get(name)
        if file is None:
            raise KeyError(name)
        if not self.bed_clear:
            self.dirty_bed_starts += 1
            self._fleet["dirty_bed_starts"] += 1
        self._job_ids += 1
        self.job = SimJob(id=self._job_ids, file=file, manual=manual, started_at=now)
        self.bed_clear = False
        if manual:
            self.manual_prints_started += 1
            self._fleet["manual_prints_started"] += 1
        else:
            self.prints_started += 1
            self._fleet["prints_started"] += 1
            self.starts_by_file[name] = self.starts_by_file.get(name, 0) + 1
        self.tool.set_target(file.tool_target, now)
        self.bed.set_target(file.bed_target, now)
        heat = max(self.tool.seconds_to_target(now), self.bed.seconds_to_target(now))
        if heat > 0:
            self._enter(Phase.HEATING, now + heat)
        else:
            self._enter(Phase.PRINTING, None)
            self.job.segment_start = now
        return self.job

    def pause(self) -> None:
        now = self.advance()
        if self.phase is Phase.PAUSED or self.phase is Phase.PAUSING:
            return
        if self.phase not in (Phase.PRINTING, Phase.HEATING):
            raise SimConflict("printer is not printing")
        job = self.job
        if job.segment_start is not None:
            job.printed = job.printed_at(now)
            job.segment_start = None
        self._enter(Phase.PAUSING, now + TRANSIENT)

    def resume(self) -> None:
        now = self.advance()
        if self.phase is Phase.PAUSING:
            raise SimConflict("printer is still pausing")
        if self.phase is not Phase.PAUSED:
            raise SimConflict("printer is not paused")
        self.job.segment_start = now
        self._enter(Phase.PRINTING, None)

    def cancel(self) -> None:
        now = self.advance()
        if self.phase is Phase.CANCELLING:
            return
        if not self.busy or self.phase is Phase.FINISHING:
            raise SimConflict("no active job to cancel")
        job = self.job
        if job.segment_start is not None:
            job.printed = job.printed_at(now)
            job.segment_start = None
        self._enter(Phase.CANCELLING, now + TRANSIENT)

    def clear_bed(self) -> None:
        self.advance()
        if self.busy:
            raise SimConflict("printer is busy: the bed cannot be cleared during a job")
        self.bed_clear = True
        if self.phase in (Phase.FINISHED, Phase.STOPPED):
            self._enter(Phase.IDLE, None)

    def firmware_error(self, message: str) -> None:
        now = self.advance()
        if self.job is not None:
            self.job.printed = self.job.printed_at(now)
            self.job.segment_start = None
            self._end_job(Phase.ERROR, now)
        self._enter(Phase.ERROR, None)
        self.error_message = message
        self.tool.set_target(0, now)
        self.bed.set_target(0, now)

    def reconnect(self) -> None:
        self.advance()
        if self.phase is Phase.ERROR:
            self.error_message = ""
            self._enter(Phase.IDLE, None)

    # --- faults and reporting --------------------------------------------------------------------

    def set_faults(self, changes: dict) -> None:
        unknown = sorted(set(changes) - set(FAULT_KEYS))
        if unknown:
            raise ValueError(
                f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(sorted(FAULT_KEYS))}"
            )
        for key, value in changes.items():
            if value in (None, False, 0, ""):
                self.faults.pop(key, None)
                if key == "firmware_error":
                    self.reconnect()
            else:
                self.faults[key] = value
                if key == "firmware_error":
                    self.firmware_error(str(value))

    def flapped(self) -> bool:
        """True while a flapping printer shows its disconnected face (alternating each period)."""
        period = self.faults.get("flapping")
        if not period:
            return False
        period = 1.0 if period is True else float(period)
        return int(time.monotonic() / period) % 2 == 1

    def snapshot(self) -> dict:
        now = self.advance()
        job = self.job or self.last_job
        return {
            "index": self.index,
            "personality": self.personality,
            "phase": self.phase.value,
            "bed_clear": self.bed_clear,
            "error": self.error_message,
            "faults": dict(self.faults),
            "prints_started": self.prints_started,
            "manual_prints_started": self.manual_prints_started,
            "dirty_bed_starts": self.dirty_bed_starts,
            "starts_by_file": dict(self.starts_by_file),
            "files": sorted(self.files),
            "hands": self.hands.snapshot() if self.hands is not None else None,
            "temperatures": {
                "tool0": {"actual": self.tool.actual(now), "target": self.tool.target},
                "bed": {"actual": self.bed.actual(now), "target": self.bed.target},
            },
            "job": None
            if job is None
            else {
                "id": job.id,
                "file": job.file.name,
                "manual": job.manual,
                "progress": job.progress(now),
                "active": job is self.job,
            },
        }
