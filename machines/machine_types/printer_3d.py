"""The ``printer-3d`` machine type and ``BasePrinterDriver``, the client contract every 3D-printer
driver implements (types in ``printer_state``)."""

from __future__ import annotations

import logging
from pathlib import Path

from machines.machine_types.base import BaseDriver, BaseMachineType, MachineProperty
from machines.machine_types.printer_controls import Control, ControlNotSupported, Jog
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterCapabilities,
    PrinterError,
    PrinterState,
    PrinterStatus,
    PrinterUnauthorized,
    PrinterUnreachable,
    RemoteFile,
)
from machines.status import MachineStatus

logger = logging.getLogger(__name__)


class Printer3DStatus(MachineStatus):
    IDLE = 100, "Idle", "success"
    HEATING = 110, "Heating", "primary"
    PRINTING = 111, "Printing", "primary"
    PAUSING = 112, "Pausing", "info"
    CANCELLING = 113, "Cancelling", "info"
    FINISHING = 114, "Finishing", "primary"
    PAUSED = 200, "Paused", "warning"
    AWAITING_BED_CLEAR = 201, "Awaiting bed clear", "warning"
    DISCONNECTED = 300, "Disconnected", "danger"
    ERROR = 301, "Error", "danger"
    DRIVER_ERROR = 400, "Driver error", "danger"
    UNAUTHORIZED = 401, "Credentials refused", "danger"
    UNKNOWN = 500, "Unknown", "secondary"


# Live-state ``data`` key: True once a print ended on the machine until someone confirms the plate was
# removed (written by the jobs reconciler and bed-clear service), False after that confirmation.
BED_CLEAR_REQUIRED = "bed_clear_required"

# PrinterStatus (what drivers report) -> machine status code.
STATUS_FOR_PRINTER_STATUS: dict[PrinterStatus, Printer3DStatus] = {
    PrinterStatus.IDLE: Printer3DStatus.IDLE,
    PrinterStatus.HEATING: Printer3DStatus.HEATING,
    PrinterStatus.PRINTING: Printer3DStatus.PRINTING,
    PrinterStatus.PAUSING: Printer3DStatus.PAUSING,
    PrinterStatus.PAUSED: Printer3DStatus.PAUSED,
    PrinterStatus.CANCELLING: Printer3DStatus.CANCELLING,
    PrinterStatus.FINISHING: Printer3DStatus.FINISHING,
    PrinterStatus.AWAITING_BED_CLEAR: Printer3DStatus.AWAITING_BED_CLEAR,
    PrinterStatus.DISCONNECTED: Printer3DStatus.DISCONNECTED,
    PrinterStatus.ERROR: Printer3DStatus.ERROR,
    PrinterStatus.UNKNOWN: Printer3DStatus.UNKNOWN,
}


class BasePrinterDriver(BaseDriver):
    """Base of every 3D-printer driver. Override the client methods; ``poll_machine`` is provided.

    Client methods raise the ``printer_state`` errors: ``PrinterUnreachable``, ``PrinterUnauthorized``,
    ``PrinterRejected``, ``PrinterBadResponse``.
    """

    machine_type = "printer-3d"

    def get_state(self, machine: BaseMachineType) -> PrinterState:
        raise NotImplementedError

    def upload(self, machine: BaseMachineType, path: Path, name: str, sha256: str) -> None:
        """Upload the local file ``path`` to the printer as ``name`` (``sha256`` of its content)."""
        raise NotImplementedError

    def start(self, machine: BaseMachineType, name: str) -> None:
        raise NotImplementedError

    def pause(self, machine: BaseMachineType) -> None:
        raise NotImplementedError

    def resume(self, machine: BaseMachineType) -> None:
        raise NotImplementedError

    def cancel(self, machine: BaseMachineType) -> None:
        raise NotImplementedError

    def delete_file(self, machine: BaseMachineType, name: str) -> None:
        raise NotImplementedError

    def list_files(self, machine: BaseMachineType) -> list[RemoteFile]:
        raise NotImplementedError

    def capabilities(self, machine: BaseMachineType) -> PrinterCapabilities:
        raise NotImplementedError

    # -- operator controls (machines.machine_types.printer_controls); optional ----------------------
    # Declare what this driver offers; the methods below raise ControlNotSupported unless overridden.
    CONTROLS: frozenset[Control] = frozenset()

    def controls(self, machine: BaseMachineType) -> frozenset[Control]:
        """The controls this machine offers (no network: read from the class, or from its settings)."""
        return frozenset(self.CONTROLS)

    def _not_supported(self, control: Control):
        return ControlNotSupported(f"{self.NAME or type(self).__name__} does not offer {control.value}")

    def set_temperatures(self, machine: BaseMachineType, *, tool: float | None, bed: float | None) -> None:
        """Set the nozzle and/or bed target (°C, 0 = off); None leaves that heater as it is."""
        raise self._not_supported(Control.PREHEAT)

    def home(self, machine: BaseMachineType, axes: list[str]) -> None:
        """Home the given axes ("x", "y", "z"); an empty list homes all."""
        raise self._not_supported(Control.HOME)

    def jog(self, machine: BaseMachineType, step: Jog) -> None:
        """Move the head by a relative step in mm."""
        raise self._not_supported(Control.JOG)

    def set_fan(self, machine: BaseMachineType, percent: float) -> None:
        raise self._not_supported(Control.FAN)

    def set_speed_factor(self, machine: BaseMachineType, percent: float) -> None:
        raise self._not_supported(Control.SPEED)

    def set_flow_factor(self, machine: BaseMachineType, percent: float) -> None:
        raise self._not_supported(Control.FLOW)

    def send_gcode(self, machine: BaseMachineType, line: str) -> None:
        """Send one G-code line or macro (already checked against the deny list)."""
        raise self._not_supported(Control.GCODE)

    def print_file(self, machine: BaseMachineType, name: str) -> None:
        """Print a file already stored on the printer (``start`` by default)."""
        self.start(machine, name)

    def emergency_stop(self, machine: BaseMachineType) -> None:
        raise self._not_supported(Control.EMERGENCY_STOP)

    required_overrides = [
        get_state,
        upload,
        start,
        pause,
        resume,
        cancel,
        delete_file,
        list_files,
        capabilities,
    ]

    def poll_machine(self, machine: BaseMachineType) -> PrinterState | None:
        """Ask the printer for its state and store it as the machine's live state.

        Unreachable -> Disconnected with the reason; refused credentials -> a driver fault (4xx) and an
        error; an unreadable answer -> Error and an error on this machine only. Returns the state, or
        None when the printer could not be read.
        """
        try:
            state = self.get_state(machine)
        except PrinterUnreachable as exc:
            machine.update_state(status=Printer3DStatus.DISCONNECTED, status_text=f"Unreachable: {exc}")
            return None
        except PrinterUnauthorized as exc:
            machine.update_state(
                status=Printer3DStatus.UNAUTHORIZED,
                status_text="The printer refused our credentials",
                error=f"Credentials refused: {exc}",
            )
            return None
        except (PrinterBadResponse, PrinterError) as exc:
            machine.update_state(
                status=Printer3DStatus.ERROR,
                status_text=f"Unreadable answer: {exc}",
                error=f"{type(exc).__name__}: {exc}",
            )
            return None
        self.record_state(machine, state)
        return state

    def record_state(self, machine: BaseMachineType, state: PrinterState) -> None:
        """Store what the printer just said as the machine's live state (polls, and callers such as
        the dispatcher that read the printer themselves)."""
        machine.update_state(
            # Decided inside the state's atomic update, from the bed-clear flag stored with it: no
            # separate read, and a flag set meanwhile by a worker is never missed.
            status=lambda raw: machine_status_for(
                state, bed_clear_required=(raw.get("data") or {}).get(BED_CLEAR_REQUIRED)
            ),
            status_text=state.message or state.raw_state,
            properties=printer_properties(state),
            replace_properties=True,
            data={"printer_state": state.as_dict()},
            seen=True,
        )


def machine_status_for(state: PrinterState, *, bed_clear_required: bool | None) -> Printer3DStatus:
    """The machine status for what the printer reports, with Lab MES's bed-clear flag applied: an idle
    printer whose plate has not been confirmed clear awaits bed clear, and a printer that reports
    awaiting bed clear (Klipper, PrusaLink keep saying so until the next print) is idle once confirmed."""
    status = STATUS_FOR_PRINTER_STATUS[state.status]
    if status in (Printer3DStatus.IDLE, Printer3DStatus.AWAITING_BED_CLEAR):
        flag = bed_clear_required
        if status is Printer3DStatus.IDLE and flag is True:
            return Printer3DStatus.AWAITING_BED_CLEAR
        if status is Printer3DStatus.AWAITING_BED_CLEAR and flag is False:
            return Printer3DStatus.IDLE
    return status


def printer_properties(state: PrinterState) -> list[MachineProperty]:
    props = []
    for name, temperature in sorted(state.temperatures.items()):
        props.append(MachineProperty(name, temperature.actual, group="temperatures", type="float", unit="°C"))
        props.append(
            MachineProperty(
                f"{name}_target", temperature.target, group="temperatures", type="float", unit="°C"
            )
        )
    if state.job is not None:
        props.append(MachineProperty("job_file", state.job.file_name, group="job"))
        if state.job.progress is not None:
            props.append(
                MachineProperty("job_progress", state.job.progress, group="job", type="progress", max=100)
            )
        if state.job.time_left is not None:
            props.append(
                MachineProperty("job_time_left", state.job.time_left, group="job", type="float", unit="s")
            )
        if state.job.time_used is not None:
            props.append(
                MachineProperty("job_time_used", state.job.time_used, group="job", type="float", unit="s")
            )
    return props


class Printer3DMachineType(BaseMachineType):
    SLUG = "printer-3d"
    NAME = "3D printer"
    DESCRIPTION = "A fused-filament or resin 3D printer that takes print jobs."
    base_driver = BasePrinterDriver
    MACHINE_STATUS = Printer3DStatus
    default_machine_status = Printer3DStatus.UNKNOWN
    driver_error_status = Printer3DStatus.DRIVER_ERROR
    idle_statuses = frozenset({Printer3DStatus.IDLE})
    offline_statuses = frozenset({Printer3DStatus.DISCONNECTED})
    MACHINE_SETTINGS = {
        "BUILD_VOLUME_X": {"name": "Build volume X (mm)", "type": "float", "min": 1, "default": 220},
        "BUILD_VOLUME_Y": {"name": "Build volume Y (mm)", "type": "float", "min": 1, "default": 220},
        "BUILD_VOLUME_Z": {"name": "Build volume Z (mm)", "type": "float", "min": 1, "default": 250},
        "BUILD_MIN_X": {
            "name": "Build area origin X (mm)",
            "description": "Lowest X the printer reaches (some beds start below 0).",
            "type": "float",
            "default": 0,
        },
        "BUILD_MIN_Y": {"name": "Build area origin Y (mm)", "type": "float", "default": 0},
        "BUILD_MIN_Z": {"name": "Build area origin Z (mm)", "type": "float", "default": 0},
        "MAX_NOZZLE_TEMP": {
            "name": "Highest nozzle temperature (°C)",
            "description": "Jobs that heat the nozzle above it are refused at upload. Empty: not checked.",
            "type": "float",
            "min": 0,
        },
        "MAX_BED_TEMP": {
            "name": "Highest bed temperature (°C)",
            "description": "Jobs that heat the bed above it are refused at upload. Empty: not checked.",
            "type": "float",
            "min": 0,
        },
        "NOZZLE_DIAMETER": {
            "name": "Nozzle diameter (mm)",
            "type": "float",
            "min": 0.1,
            "max": 2,
            "default": 0.4,
        },
        "LOADED_MATERIALS": {
            "name": "Loaded materials",
            "description": "Materials loaded now, e.g. PLA, PETG.",
            "type": "list",
            "default": [],
        },
        "TAGS": {
            "name": "Tags",
            "description": "Free labels used to match jobs.",
            "type": "list",
            "default": [],
        },
        "WEBCAM_SNAPSHOT_URL": {
            "name": "Webcam snapshot URL",
            "description": "http(s) URL of a still picture from the printer's camera, e.g. "
            "http://octopi.lab/webcam/?action=snapshot. Empty: the driver's own, if it reports one. "
            "Lab MES fetches it and shows it to staff and to the owner of the job printing.",
            "type": "str",
        },
        "POLL_INTERVAL": {
            "name": "Poll interval (s)",
            "type": "float",
            "min": 0.5,
            "max": 3600,
            "default": 2,
        },
    }
