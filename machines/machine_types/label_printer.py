"""The ``label-printer`` machine type: proves the registry is not printer-3d specific."""

from __future__ import annotations

from machines.machine_types.base import BaseDriver, BaseMachineType
from machines.status import MachineStatus


class LabelPrinterStatus(MachineStatus):
    READY = 100, "Ready", "success"
    PRINTING = 110, "Printing", "primary"
    PAPER_LOW = 200, "Paper low", "warning"
    OUT_OF_PAPER = 300, "Out of paper", "danger"
    DISCONNECTED = 301, "Disconnected", "danger"
    DRIVER_ERROR = 400, "Driver error", "danger"
    UNKNOWN = 500, "Unknown", "secondary"


class LabelPrinterBaseDriver(BaseDriver):
    """Base of label-printer drivers: implement ``print_label`` or ``print_labels`` (or both)."""

    machine_type = "label-printer"

    def print_label(self, machine: BaseMachineType, content: str) -> None:
        """Print one label whose text is ``content``."""
        self.print_labels(machine, [content])

    def print_labels(self, machine: BaseMachineType, contents: list[str]) -> None:
        """Print several labels; the default prints them one by one."""
        for content in contents:
            self.print_label(machine, content)

    required_overrides = [[print_label, print_labels]]


class LabelPrinterMachineType(BaseMachineType):
    SLUG = "label-printer"
    NAME = "Label printer"
    DESCRIPTION = "Prints labels for spools, parts and bins."
    base_driver = LabelPrinterBaseDriver
    MACHINE_STATUS = LabelPrinterStatus
    default_machine_status = LabelPrinterStatus.UNKNOWN
    driver_error_status = LabelPrinterStatus.DRIVER_ERROR
    idle_statuses = frozenset({LabelPrinterStatus.READY})
    MACHINE_SETTINGS = {
        "LABEL_WIDTH_MM": {"name": "Label width (mm)", "type": "float", "min": 5, "default": 62},
        "LABEL_HEIGHT_MM": {"name": "Label height (mm)", "type": "float", "min": 5, "default": 29},
    }
