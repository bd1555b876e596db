"""Operator controls: staff act on one printer directly (preheat, home, jog, fan, G-code, e-stop…).

``machine_control`` is the one entry point for the API and the pages: it checks who asks, whether the
driver offers the control, the parameters (ranges, the G-code deny list), and refuses what would spoil
a running print (moving the head); then calls the driver and writes a ``MachineControlLog`` row with
the person, whatever the outcome.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from machines.machine_types.printer_3d import BasePrinterDriver, Printer3DStatus
from machines.machine_types.printer_controls import AXES, MOTION_CONTROLS, Control, ControlNotSupported, Jog
from machines.machine_types.printer_state import PrinterError
from machines.models import MachineConfig, MachineControlLog
from machines.registry import get_registry
from machines.state import read_states

logger = logging.getLogger(__name__)

# Machine statuses in which a print is running (or holding its place, paused).
PRINTING_STATUSES = frozenset(
    {
        Printer3DStatus.HEATING,
        Printer3DStatus.PRINTING,
        Printer3DStatus.PAUSING,
        Printer3DStatus.CANCELLING,
        Printer3DStatus.FINISHING,
        Printer3DStatus.PAUSED,
    }
)
# G-code that moves the head: refused by hand while a print runs, like jog and home.
MOTION_GCODE = frozenset({"G0", "G1", "G2", "G3", "G28", "G29", "G92"})
MAX_JOG_MM = 100.0
MAX_GCODE_LINE = 200
DEFAULT_MAX_NOZZLE = 300.0
DEFAULT_MAX_BED = 120.0
PERCENT_RANGES = {Control.FAN: (0, 100), Control.SPEED: (10, 500), Control.FLOW: (50, 200)}


class ControlRefused(Exception):
    """A control that was not sent, with the HTTP status and the reason a person can act on."""

    def __init__(self, message: str, *, status_code: int = 409, code: str = "refused") -> None:
        super().__init__(message)
        self.message, self.status_code, self.code = message, status_code, code


@dataclass(frozen=True)
class ControlResult:
    control: Control
    message: str
    log: MachineControlLog


def _bad(message: str) -> ControlRefused:
    return ControlRefused(message, status_code=400, code="invalid")


def _number(params: dict, key: str, *, low: float, high: float, required: bool = True) -> float | None:
    value = params.get(key)
    if value in (None, ""):
        if required:
            raise _bad(f"{key} is required")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(f"{key}={value!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise _bad(f"{key} must be between {low:g} and {high:g}, got {number:g}")
    return number


def gcode_command_word(line: str) -> str:
    """The command of a G-code line ("M104", "SAVE_CONFIG"), without a line number or comment."""
    text = line.split(";", 1)[0].strip().upper()
    words = text.split()
    if words and words[0].startswith("N") and words[0][1:].isdigit():
        words = words[1:]
    return words[0] if words else ""


def _gcode_line(params: dict) -> str:
    line = str(params.get("line") or "").strip()
    if not line:
        raise _bad("line is required: one G-code line or macro, e.g. M117 Hello")
    if "\n" in line or "\r" in line or len(line) > MAX_GCODE_LINE:
        raise _bad(f"send one line of at most {MAX_GCODE_LINE} characters")
    word = gcode_command_word(line)
    if word in settings.MACHINES_GCODE_DENIED:
        raise ControlRefused(
            f"{word} may not be sent by hand (firmware, factory reset or stored settings; "
            "MACHINES_GCODE_DENIED)",
            status_code=403,
            code="gcode_denied",
        )
    return line


def _validate(control: Control, params: dict, machine) -> dict[str, Any]:
    """The control's arguments, checked; ``ControlRefused`` (400) names what is wrong."""
    max_tool = machine.settings.get("MAX_NOZZLE_TEMP") or DEFAULT_MAX_NOZZLE
    max_bed = machine.settings.get("MAX_BED_TEMP") or DEFAULT_MAX_BED
    if control is Control.PREHEAT:
        material = str(params.get("material") or "").strip().upper()
        if material:
            presets = settings.MACHINES_PREHEAT_PRESETS
            if material not in presets:
                raise _bad(f"no preheat preset for {material}; presets: {', '.join(sorted(presets))}")
            tool, bed = presets[material]
        else:
            tool = _number(params, "tool", low=0, high=max_tool, required=False)
            bed = _number(params, "bed", low=0, high=max_bed, required=False)
            if tool is None and bed is None:
                raise _bad("give a material preset, or a tool and/or bed temperature")
        if (tool or 0) > max_tool or (bed or 0) > max_bed:
            raise _bad(
                f"{material} needs {tool:g}/{bed:g} °C, above this printer's {max_tool:g}/{max_bed:g} °C"
            )
        return {"material": material, "tool": tool, "bed": bed}
    if control is Control.HOME:
        axes = params.get("axes") or []
        if isinstance(axes, str):
            axes = [a for a in axes.replace(",", " ").split() if a]
        axes = [str(a).lower() for a in axes]
        if any(a not in AXES for a in axes):
            raise _bad(f"axes must be among x, y, z, got {axes}")
        return {"axes": sorted(set(axes))}
    if control is Control.JOG:
        step = {a: _number(params, a, low=-MAX_JOG_MM, high=MAX_JOG_MM, required=False) or 0.0 for a in AXES}
        if not any(step.values()):
            raise _bad(f"give a step in mm for x, y or z (at most {MAX_JOG_MM:g})")
        return step
    if control in PERCENT_RANGES:
        low, high = PERCENT_RANGES[control]
        return {"percent": _number(params, "percent", low=low, high=high)}
    if control is Control.GCODE:
        return {"line": _gcode_line(params)}
    if control is Control.PRINT_FILE:
        name = str(params.get("name") or "").strip()
        if not name or "\n" in name:
            raise _bad("name is required: a file already on the printer")
        return {"name": name}
    return {}


def _printing(machine_id) -> bool:
    status = read_states([str(machine_id)])[str(machine_id)].status
    return status in PRINTING_STATUSES


def _call(driver: BasePrinterDriver, machine, control: Control, args: dict) -> str:
    if control is Control.PREHEAT:
        driver.set_temperatures(machine, tool=args["tool"], bed=args["bed"])
        what = args["material"] or "the temperatures"
        return f"heating to {what}: nozzle {args['tool'] or 0:g} °C, bed {args['bed'] or 0:g} °C"
    if control is Control.COOLDOWN:
        driver.set_temperatures(machine, tool=0, bed=0)
        return "heaters off"
    if control is Control.HOME:
        driver.home(machine, args["axes"])
        return f"homing {' '.join(args['axes']).upper() or 'all axes'}"
    if control is Control.JOG:
        driver.jog(machine, Jog(**args))
        return "moved " + " ".join(f"{a.upper()}{v:+g}" for a, v in args.items() if v) + " mm"
    if control is Control.FAN:
        driver.set_fan(machine, args["percent"])
        return f"fan at {args['percent']:g} %"
    if control is Control.SPEED:
        driver.set_speed_factor(machine, args["percent"])
        return f"speed factor {args['percent']:g} %"
    if control is Control.FLOW:
        driver.set_flow_factor(machine, args["percent"])
        return f"flow factor {args['percent']:g} %"
    if control is Control.GCODE:
        driver.send_gcode(machine, args["line"])
        return f"sent {args['line']}"
    if control is Control.PRINT_FILE:
        driver.print_file(machine, args["name"])
        return f"printing {args['name']}"
    driver.emergency_stop(machine)
    return "emergency stop sent: the firmware halts; reconnect the printer when it is safe"


def machine_printing(*, machine_id) -> bool:
    """Is a print running (or paused) on the machine, so that moving the head would spoil it?"""
    return _printing(machine_id)


def machine_controls(*, machine_id) -> frozenset[Control]:
    """What the machine's driver offers (empty for unknown machines and other machine types)."""
    machine = get_registry().get_machine(machine_id)
    if machine is None or not isinstance(machine.driver, BasePrinterDriver):
        return frozenset()
    return machine.driver.controls(machine)


def machine_control(*, machine_id, control: str, params: dict | None = None, user) -> ControlResult:
    """Send one operator control to a machine for ``user`` (staff); every attempt is logged."""
    config = MachineConfig.objects.filter(pk=machine_id).first()
    if config is None:
        raise ControlRefused(f"no machine {machine_id}", status_code=404, code="not_found")
    params = dict(params or {})
    name = str(control)

    def log(outcome: str, message: str, args: dict | None = None) -> MachineControlLog:
        return MachineControlLog.objects.create(
            machine=config,
            user=user if getattr(user, "is_authenticated", False) else None,
            username=getattr(user, "username", "") or "",
            control=name[:20],
            params=args if args is not None else {k: str(v)[:200] for k, v in params.items()},
            outcome=outcome,
            message=message,
        )

    try:
        if not getattr(user, "is_staff", False):
            raise ControlRefused(
                "machine controls are for lab staff", status_code=403, code="permission_denied"
            )
        try:
            control = Control(name)
        except ValueError:
            raise _bad(f"unknown control {name!r}; controls: {', '.join(c.value for c in Control)}") from None
        machine = get_registry().get_machine(config.pk)
        if machine is None or not isinstance(machine.driver, BasePrinterDriver):
            raise _bad(f"{config.name} is not a 3D printer with a loaded driver")
        if control not in machine.driver.controls(machine):
            raise ControlRefused(
                f"{config.name}'s driver ({config.driver}) does not offer {control.value}",
                status_code=400,
                code="not_supported",
            )
        args = _validate(control, params, machine)
        moves = control in MOTION_CONTROLS or (
            control is Control.GCODE and gcode_command_word(args["line"]) in MOTION_GCODE
        )
        if moves and _printing(config.pk):
            raise ControlRefused(
                f"{config.name} is printing: {control.value.replace('_', ' ')} now would spoil the print. "
                "Pause or cancel the job first.",
                code="printing",
            )
    except ControlRefused as exc:
        log(MachineControlLog.Outcome.REFUSED, exc.message)
        raise
    try:
        message = _call(machine.driver, machine, control, args)
    except ControlNotSupported as exc:
        log(MachineControlLog.Outcome.REFUSED, str(exc), args)
        raise ControlRefused(str(exc), status_code=400, code="not_supported") from exc
    except PrinterError as exc:
        log(MachineControlLog.Outcome.FAILED, str(exc), args)
        raise ControlRefused(
            f"{config.name} did not accept it: {exc}", status_code=502, code="printer_error"
        ) from exc
    entry = log(MachineControlLog.Outcome.DONE, message, args)
    logger.info("%s: %s by %s", config.name, message, entry.username)
    return ControlResult(control=control, message=message, log=entry)
