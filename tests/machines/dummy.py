"""A dummy driver plugin that exercises the whole driver contract, and fixtures that install it.

The dummy printer driver keeps a log of hook calls and can be told, per machine name, to raise in a
hook or what ``get_state`` returns (a PrinterState or an exception to raise).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from machines.machine_types.base import BaseDriver, BaseMachineType
from machines.machine_types.label_printer import LabelPrinterBaseDriver
from machines.machine_types.printer_3d import BasePrinterDriver
from machines.machine_types.printer_state import (
    PrinterCapabilities,
    PrinterState,
    PrinterStatus,
    RemoteFile,
)
from machines.registry import reset_registry
from machines.status import MachineStatus
from plugins.base import MachineDriverMixin, MesPlugin
from plugins.models import PluginConfig
from plugins.registry import reset_plugin_registry
from plugins.services import PluginActivationRefused, plugin_activate


class DummyPrinterDriver(BasePrinterDriver):
    SLUG = "dummy-printer"
    NAME = "Dummy printer"
    DESCRIPTION = "Records calls; behaviour scripted per machine name."
    MACHINE_SETTINGS = {
        "HOST": {"name": "Host", "type": "str", "required": True},
        "API_KEY": {"name": "API key", "type": "str", "secret": True},
        "PORT": {"name": "Port", "type": "int", "min": 1, "max": 65535, "default": 80},
        "MODE": {"name": "Mode", "type": "choice", "choices": ["fast", "quiet"], "default": "fast"},
    }

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[tuple[str, str], Exception] = {}  # (hook, machine name) -> exception to raise
        self.states: dict[str, PrinterState | Exception] = {}
        self.files: dict[str, dict[str, RemoteFile]] = {}

    def _hook(self, hook: str, machine: BaseMachineType) -> None:
        self.calls.append((hook, machine.name))
        error = self.fail.get((hook, machine.name))
        if error is not None:
            raise error

    def calls_for(self, name: str) -> list[str]:
        return [hook for hook, machine in self.calls if machine == name and hook != "init_driver"]

    def init_driver(self, machines):
        self.calls.append(("init_driver", ",".join(sorted(m.name for m in machines))))

    def init_machine(self, machine):
        self._hook("init_machine", machine)

    def update_machine(self, old_state, machine):
        self._hook("update_machine", machine)
        super().update_machine(old_state, machine)

    def restart_machine(self, machine):
        self._hook("restart_machine", machine)
        super().restart_machine(machine)

    def teardown_machine(self, machine):
        self._hook("teardown_machine", machine)

    def ping(self, machine):
        self._hook("ping", machine)
        return True

    def get_state(self, machine):
        self._hook("get_state", machine)
        result = self.states.get(machine.name, PrinterState(status=PrinterStatus.IDLE))
        if isinstance(result, Exception):
            raise result
        return result

    def upload(self, machine, path: Path, name, sha256):
        self.files.setdefault(machine.name, {})[name] = RemoteFile(name, Path(path).stat().st_size, sha256)

    def start(self, machine, name):
        self._hook("start", machine)

    def pause(self, machine):
        self._hook("pause", machine)

    def resume(self, machine):
        self._hook("resume", machine)

    def cancel(self, machine):
        self._hook("cancel", machine)

    def delete_file(self, machine, name):
        self.files.get(machine.name, {}).pop(name, None)

    def list_files(self, machine):
        return list(self.files.get(machine.name, {}).values())

    def capabilities(self, machine):
        return PrinterCapabilities(can_pause=True)


class DummyLabelDriver(LabelPrinterBaseDriver):
    SLUG = "dummy-label"
    NAME = "Dummy label printer"
    DESCRIPTION = "Keeps printed labels in memory."

    def __init__(self) -> None:
        super().__init__()
        self.printed: list[str] = []

    def print_label(self, machine, content):
        self.printed.append(content)


class DummyPlugin(MachineDriverMixin, MesPlugin):
    SLUG = "dummy"
    NAME = "Dummy drivers"
    VERSION = "1.0"
    AUTHOR = "Lab MES tests"
    DESCRIPTION = "Drivers used by the registry tests."
    MES_VERSION = ">=0.1"

    def get_machine_drivers(self):
        return [DummyPrinterDriver, DummyLabelDriver]


# -- broken things, for the validation tests ---------------------------------------------------------
class IncompletePrinterDriver(BasePrinterDriver):
    """Overrides only get_state: every other client method is missing."""

    SLUG = "incomplete"
    NAME = "Incomplete"
    DESCRIPTION = "Misses required overrides."

    def get_state(self, machine):
        return PrinterState(status=PrinterStatus.IDLE)


class NoLabelMethodDriver(LabelPrinterBaseDriver):
    SLUG = "no-label-method"
    NAME = "No label method"
    DESCRIPTION = "Overrides neither print_label nor print_labels."


class WrongTypeDriver(BaseDriver):
    SLUG = "wrong-type"
    NAME = "Wrong type"
    DESCRIPTION = "For a machine type nobody provides."
    machine_type = "time-machine"


class ClashingSettingDriver(LabelPrinterBaseDriver):
    SLUG = "clashing"
    NAME = "Clashing"
    DESCRIPTION = "Redefines a machine type setting."
    MACHINE_SETTINGS = {"LABEL_WIDTH_MM": {"name": "Width", "type": "int"}}

    def print_label(self, machine, content):
        pass


class BadSettingTypeDriver(LabelPrinterBaseDriver):
    SLUG = "bad-setting"
    NAME = "Bad setting"
    DESCRIPTION = "Declares a setting of an unknown type."
    MACHINE_SETTINGS = {"SPEED": {"name": "Speed", "type": "velocity"}}

    def print_label(self, machine, content):
        pass


class BadStatus(MachineStatus):
    FINE = 100, "Fine", "success"
    WEIRD = 700, "Weird", "success"


class BadMachineType(BaseMachineType):
    SLUG = "bad-type"
    NAME = "Bad type"
    DESCRIPTION = "Status code out of range."
    base_driver = BaseDriver
    MACHINE_STATUS = BadStatus
    default_machine_status = BadStatus.FINE


class NamelessMachineType(BaseMachineType):
    SLUG = "nameless"
    DESCRIPTION = "Has no NAME."


class BrokenDriversPlugin(MachineDriverMixin, MesPlugin):
    SLUG = "broken-drivers"
    NAME = "Broken drivers"
    VERSION = "0.1"
    AUTHOR = "Lab MES tests"
    DESCRIPTION = "Every driver here is wrong in a different way."
    MES_VERSION = ">=0.1"

    def get_machine_types(self):
        return [BadMachineType, NamelessMachineType]

    def get_machine_drivers(self):
        return [
            IncompletePrinterDriver,
            NoLabelMethodDriver,
            WrongTypeDriver,
            ClashingSettingDriver,
            BadSettingTypeDriver,
            DummyPrinterDriver,  # duplicate of the dummy plugin's driver slug
        ]


@pytest.fixture
def fresh_registries():
    """Rebuild the plugin and machine registries around a test, with dummy plugins discoverable."""

    def build(*extra, activate=("dummy",)):
        reset_plugin_registry(extra=extra or (DummyPlugin,))
        for slug in activate:
            try:
                plugin_activate(slug=slug)
            except PluginActivationRefused:
                # A broken plugin cannot be activated any more; these tests need one that was active
                # before it broke (e.g. by an upgrade), so it is marked active the way that left it.
                PluginConfig.objects.update_or_create(slug=slug, defaults={"active": True, "name": slug})
        return reset_registry()

    yield build
    reset_registry()
    reset_plugin_registry()


@pytest.fixture
def registry(db, fresh_registries):
    """A loaded machine registry with the dummy plugin active."""
    return fresh_registries(DummyPlugin).ensure_current()
