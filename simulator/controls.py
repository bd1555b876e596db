"""What staff do to a simulated printer by hand: heaters, homing, jogging, fan, speed and flow, G-code.

Every personality applies the same G-code here (OctoPrint's /api/printer/* operations translate to
it, Moonraker's /printer/gcode/script sends it), so the snapshot shows what the printer would do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .model import SimConflict, SimPrinter

WORD = re.compile(r"([A-Z])(-?\d+(?:\.\d+)?)")


@dataclass
class Hands:
    position: dict[str, float] = field(default_factory=lambda: {"x": 0.0, "y": 0.0, "z": 0.0})
    homed: set[str] = field(default_factory=set)
    relative: bool = False
    fan: int = 0  # 0-255, as M106 S
    speed: int = 100  # %, M220
    flow: int = 100  # %, M221
    gcode: list[str] = field(default_factory=list)  # every line received, in order

    def snapshot(self) -> dict:
        return {
            "position": dict(self.position),
            "homed": sorted(self.homed),
            "fan": self.fan,
            "speed": self.speed,
            "flow": self.flow,
            "gcode": list(self.gcode[-50:]),
        }


def hands(printer: SimPrinter) -> Hands:
    if printer.hands is None:
        printer.hands = Hands()
    return printer.hands


def _words(line: str) -> dict[str, float]:
    return {letter: float(value) for letter, value in WORD.findall(line.upper())}


def apply_gcode(printer: SimPrinter, line: str) -> None:
    """Apply one G-code line; motion while a job runs is refused as a real printer's host would."""
    now = printer.advance()
    state = hands(printer)
    text = line.split(";", 1)[0].strip()
    if not text:
        return
    state.gcode.append(text)
    command, _, rest = text.partition(" ")
    command = command.upper()
    words = _words(rest)
    if command in {"G28", "G0", "G1"} and printer.busy:
        raise SimConflict(f"{command}: printer is busy with a job")
    if command == "M112":
        printer.firmware_error("Emergency stop (M112)")
    elif command in {"M104", "M109"} and "S" in words:
        printer.tool.set_target(words["S"], now)
    elif command in {"M140", "M190"} and "S" in words:
        printer.bed.set_target(words["S"], now)
    elif command == "G28":
        axes = [a for a in "xyz" if a.upper() in rest.upper()] or ["x", "y", "z"]
        for axis in axes:
            state.position[axis] = 0.0
            state.homed.add(axis)
    elif command == "G90":
        state.relative = False
    elif command == "G91":
        state.relative = True
    elif command in {"G0", "G1"}:
        for axis in "xyz":
            if axis.upper() in words:
                base = state.position[axis] if state.relative else 0.0
                state.position[axis] = round(base + words[axis.upper()], 3)
    elif command == "M106":
        state.fan = int(words.get("S", 255))
    elif command == "M107":
        state.fan = 0
    elif command == "M220" and "S" in words:
        state.speed = int(words["S"])
    elif command == "M221" and "S" in words:
        state.flow = int(words["S"])


def emergency_stop(printer: SimPrinter) -> None:
    hands(printer).gcode.append("M112")
    printer.firmware_error("Emergency stop")
