"""Operator controls of a 3D printer: what staff may do to one machine directly, and what a driver offers.

A driver declares the controls it supports in ``CONTROLS`` (a frozenset of ``Control``) and implements
the matching ``BasePrinterDriver`` methods; the defaults raise ``ControlNotSupported``. Drivers written
before these controls existed declare none and keep working unchanged (docs/plugins.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from machines.machine_types.printer_state import PrinterError


class Control(enum.StrEnum):
    PREHEAT = "preheat"  # set nozzle and bed targets (a material preset or explicit temperatures)
    COOLDOWN = "cooldown"  # every heater off
    HOME = "home"  # home axes
    JOG = "jog"  # move the head by a relative step
    FAN = "fan"  # part-cooling fan speed, 0-100 %
    SPEED = "speed"  # feed rate factor, %
    FLOW = "flow"  # extrusion (flow) factor, %
    GCODE = "gcode"  # one G-code line or macro
    PRINT_FILE = "print_file"  # print a file already on the printer
    EMERGENCY_STOP = "emergency_stop"  # halt the firmware at once


# Controls that would spoil a running print (moving the head) and are refused while one runs.
MOTION_CONTROLS = frozenset({Control.HOME, Control.JOG, Control.PRINT_FILE})
AXES = ("x", "y", "z")


class ControlNotSupported(PrinterError):
    """The driver does not offer this control for this printer."""


@dataclass(frozen=True)
class Jog:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


def gcode_preheat(tool: float | None, bed: float | None) -> list[str]:
    lines = []
    if tool is not None:
        lines.append(f"M104 S{tool:g}")
    if bed is not None:
        lines.append(f"M140 S{bed:g}")
    return lines


def gcode_home(axes: list[str]) -> list[str]:
    return ["G28 " + " ".join(a.upper() for a in axes) if axes else "G28"]


def gcode_jog(step: Jog, *, feedrate: float = 3000) -> list[str]:
    moves = " ".join(f"{axis.upper()}{getattr(step, axis):g}" for axis in AXES if getattr(step, axis))
    return ["G91", f"G1 {moves} F{feedrate:g}", "G90"]


def gcode_fan(percent: float) -> list[str]:
    return ["M107"] if percent <= 0 else [f"M106 S{round(255 * percent / 100)}"]
