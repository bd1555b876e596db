"""A label-printer driver that "prints" each label as a text file in a folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from machines.machine_types.base import MachineProperty
from machines.machine_types.label_printer import LabelPrinterBaseDriver, LabelPrinterStatus
from plugins.base import MachineDriverMixin, MesPlugin


class FolderLabelDriver(LabelPrinterBaseDriver):
    SLUG = "folder-labels"
    NAME = "Folder label printer"
    DESCRIPTION = "Writes every label as a text file into OUTPUT_DIR."
    MACHINE_SETTINGS = {
        "OUTPUT_DIR": {
            "name": "Output folder",
            "description": "Absolute path of an existing, writable folder.",
            "type": "str",
            "required": True,
        },
        "COPIES": {"name": "Copies per label", "type": "int", "min": 1, "max": 10, "default": 1},
    }

    def _folder(self, machine) -> Path:
        return Path(machine.get_setting("OUTPUT_DIR"))

    def init_machine(self, machine) -> None:
        folder = self._folder(machine)
        if not folder.is_dir():
            raise FileNotFoundError(f"output folder {folder} does not exist")
        self.poll_machine(machine)

    def ping(self, machine) -> bool:
        folder = self._folder(machine)
        return folder.is_dir() and os.access(folder, os.W_OK)

    def poll_machine(self, machine) -> None:
        folder = self._folder(machine)
        if self.ping(machine):
            count = sum(1 for _ in folder.glob("*.txt"))
            machine.update_state(
                status=LabelPrinterStatus.READY,
                status_text=f"Writing to {folder}",
                properties=[MachineProperty("labels_printed", count, group="counters", type="int")],
                seen=True,
            )
        else:
            machine.update_state(
                status=LabelPrinterStatus.DISCONNECTED, status_text=f"{folder} is not writable"
            )

    def print_label(self, machine, content: str) -> None:
        folder = self._folder(machine)
        footer = self.plugin.get_setting("LABEL_FOOTER") if self.plugin else None  # plugin-wide setting
        if footer:
            content = f"{content}\n{footer}"
        for _ in range(machine.get_setting("COPIES")):
            (folder / f"{uuid.uuid4().hex}.txt").write_text(content, encoding="utf-8")
        self.poll_machine(machine)

    def teardown_machine(self, machine) -> None:
        machine.update_state(status=LabelPrinterStatus.UNKNOWN, status_text="Stopped")


class FolderLabelPlugin(MachineDriverMixin, MesPlugin):
    SLUG = "folder-labels"
    NAME = "Folder label printer"
    VERSION = "0.1.0"
    AUTHOR = "Lab MES developers"
    DESCRIPTION = "Example third-party plugin: a label-printer driver writing text files."
    MES_VERSION = ">=0.1,<1"
    # Plugin-wide: one value for every machine using the driver (read with self.plugin.get_setting).
    SETTINGS = {
        "LABEL_FOOTER": {
            "name": "Label footer",
            "description": "Added as the last line of every label, e.g. the lab's name. Unset: no footer.",
            "type": "str",
        },
    }

    def get_machine_drivers(self):
        return [FolderLabelDriver]
