"""The ``printer-3d`` driver plugins for OctoPrint, PrusaLink and Moonraker: thin wrappers of the clients.

Each machine gets its own client (one keep-alive HTTP session), created on first use and kept on the
driver under the machine's id. The client is rebuilt when the settings it was built from change (a
fixed API key takes effect on the next call, in every process) and closed in ``teardown_machine``.
Clients are not thread-safe, and the poller and a worker may use the same machine at once, so every
call holds that machine's lock.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from machines.machine_types.base import BaseMachineType
from machines.machine_types.printer_3d import BasePrinterDriver
from machines.machine_types.printer_controls import Control, Jog
from machines.machine_types.printer_state import (
    PrinterCapabilities,
    PrinterError,
    PrinterState,
    RemoteFile,
)
from plugins.base import MachineDriverMixin, MesPlugin

from .base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_UPLOAD_READ_TIMEOUT,
    PrinterClient,
    webcam_url_on_printer,
)
from .moonraker import MoonrakerClient
from .octoprint import OctoPrintClient
from .prusalink import PrusaLinkClient

logger = logging.getLogger(__name__)

# How long a poll waits for a machine whose client is busy (e.g. a long upload) before skipping this
# round instead of holding a poller thread for the whole upload.
POLL_LOCK_WAIT = 1.0
# A probe of a printer in backoff: a LAN host answers a TCP connect in milliseconds.
PROBE_TIMEOUT = 0.5

COMMON_SETTINGS: dict[str, dict] = {
    "URL": {
        "name": "URL",
        "description": "http:// or https:// root of the printer's API, e.g. http://octopi.lab (no /api).",
        "type": "str",
        "required": True,
    },
    "API_KEY": {
        "name": "API key",
        "description": "Sent as X-Api-Key. Write-only.",
        "type": "str",
        "secret": True,
    },
    "CONNECT_TIMEOUT": {
        "name": "Connect timeout (s)",
        "type": "float",
        "min": 0.1,
        "max": 60,
        "default": DEFAULT_CONNECT_TIMEOUT,
    },
    "READ_TIMEOUT": {
        "name": "Read timeout (s)",
        "description": "How long every call except uploads waits for an answer.",
        "type": "float",
        "min": 0.5,
        "max": 600,
        "default": DEFAULT_READ_TIMEOUT,
    },
    "UPLOAD_TIMEOUT": {
        "name": "Upload read timeout (s)",
        "description": "How long an upload waits for the printer to store the file.",
        "type": "float",
        "min": 1,
        "max": 3600,
        "default": DEFAULT_UPLOAD_READ_TIMEOUT,
    },
    "VERIFY_TLS": {
        "name": "Verify TLS certificate",
        "description": "For https:// URLs; turn off only for a printer with a self-signed certificate.",
        "type": "bool",
        "default": True,
    },
}


@dataclass
class _MachineClient:
    """One machine's client, the settings it was built from, and the lock that serializes its use."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    client: PrinterClient | None = None
    options: dict[str, Any] | None = None


class ClientPrinterDriver(BasePrinterDriver):
    """A ``BasePrinterDriver`` that forwards every client method to a per-machine printer client."""

    client_class: ClassVar[type[PrinterClient]]

    def __init__(self) -> None:
        super().__init__()
        self._clients: dict[str, _MachineClient] = {}
        self._clients_lock = threading.Lock()

    # -- the per-machine client ------------------------------------------------------------------
    def client_options(self, machine: BaseMachineType) -> dict[str, Any]:
        """Constructor arguments of this machine's client, from its settings."""
        return {
            "base_url": machine.get_setting("URL"),
            "api_key": machine.get_setting("API_KEY") or None,
            "connect_timeout": machine.get_setting("CONNECT_TIMEOUT"),
            "read_timeout": machine.get_setting("READ_TIMEOUT"),
            "upload_read_timeout": machine.get_setting("UPLOAD_TIMEOUT"),
            "verify_tls": machine.get_setting("VERIFY_TLS"),
        }

    def _slot(self, machine: BaseMachineType) -> _MachineClient:
        with self._clients_lock:
            return self._clients.setdefault(machine.id, _MachineClient())

    @contextmanager
    def client(self, machine: BaseMachineType) -> Iterator[PrinterClient]:
        """This machine's client, held exclusively for the ``with`` block (rebuilt if settings changed)."""
        slot = self._slot(machine)
        with slot.lock:
            options = self.client_options(machine)
            if slot.client is None or slot.options != options:
                if slot.client is not None:
                    slot.client.close()
                    slot.client = None
                    logger.info("Settings of machine %s changed: new %s client", machine.name, self.SLUG)
                options_copy = dict(options)
                slot.client = self.client_class(options_copy.pop("base_url"), **options_copy)
                slot.options = options
            yield slot.client

    def has_client(self, machine: BaseMachineType) -> bool:
        """Is a client open for this machine in this process (for tests and diagnostics)?"""
        slot = self._clients.get(machine.id)
        return slot is not None and slot.client is not None

    def _close(self, machine: BaseMachineType) -> None:
        slot = self._clients.get(machine.id)
        if slot is None:
            return
        with slot.lock:
            if slot.client is not None:
                slot.client.close()
            slot.client, slot.options = None, None

    # -- lifecycle hooks ---------------------------------------------------------------------------
    def check_settings(self, machine: BaseMachineType) -> None:
        """Raise ValueError for settings no client can work with (shown as the machine's error)."""
        url = machine.get_setting("URL") or ""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"URL must start with http:// or https://, got {url!r}")

    def init_machine(self, machine: BaseMachineType) -> None:
        # No network here: the first poll connects. Errors of the previous settings are history.
        self.check_settings(machine)
        machine.clear_errors()

    def teardown_machine(self, machine: BaseMachineType) -> None:
        self._close(machine)

    def poll_machine(self, machine: BaseMachineType) -> PrinterState | None:
        slot = self._slot(machine)
        if not slot.lock.acquire(timeout=POLL_LOCK_WAIT):
            logger.debug("Machine %s is busy (e.g. uploading); poll skipped", machine.name)
            return None
        try:
            return super().poll_machine(machine)
        finally:
            slot.lock.release()

    def ping(self, machine: BaseMachineType) -> bool:
        try:
            self.get_state(machine)
        except PrinterError:
            return False
        return True

    def probe_machine(self, machine: BaseMachineType) -> bool | None:
        """A TCP connect to the printer's host and port (no HTTP, no login). Behind a proxy only the
        proxy could tell, so then: None, and the machine waits for its backoff."""
        url = machine.get_setting("URL") or ""
        parts = urlsplit(url)
        if not parts.hostname or requests.utils.get_environ_proxies(url):
            return None
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            with socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT):
                return True
        except (OSError, ValueError):  # refused, unreachable, timed out; ValueError: a bad port
            return False

    # -- the printer-3d client contract -----------------------------------------------------------
    def get_state(self, machine: BaseMachineType) -> PrinterState:
        with self.client(machine) as client:
            return client.get_state()

    def upload(self, machine: BaseMachineType, path: Path, name: str, sha256: str) -> RemoteFile:
        with self.client(machine) as client:
            return client.upload(path, name, sha256)

    def start(self, machine: BaseMachineType, name: str) -> None:
        with self.client(machine) as client:
            client.start(name)

    def pause(self, machine: BaseMachineType) -> None:
        with self.client(machine) as client:
            client.pause()

    def resume(self, machine: BaseMachineType) -> None:
        with self.client(machine) as client:
            client.resume()

    def cancel(self, machine: BaseMachineType) -> None:
        with self.client(machine) as client:
            client.cancel()

    def delete_file(self, machine: BaseMachineType, name: str) -> None:
        with self.client(machine) as client:
            client.delete_file(name)

    def list_files(self, machine: BaseMachineType) -> list[RemoteFile]:
        with self.client(machine) as client:
            return client.list_files()

    def file_info(self, machine: BaseMachineType, name: str) -> RemoteFile | None:
        with self.client(machine) as client:
            return client.file_info(name)

    def capabilities(self, machine: BaseMachineType) -> PrinterCapabilities:
        with self.client(machine) as client:
            return client.capabilities()

    def get_snapshot_url(self, machine: BaseMachineType) -> str | None:
        """The webcam the printer's host reports (OctoPrint, Moonraker), kept on the printer's host."""
        with self.client(machine) as client:
            reported = client.webcam_snapshot_url()
        return webcam_url_on_printer(machine.get_setting("URL"), reported) if reported else None

    # -- operator controls: what the client's API offers ------------------------------------------
    def controls(self, machine: BaseMachineType) -> frozenset[Control]:
        return self.client_class.CONTROLS

    def set_temperatures(self, machine: BaseMachineType, *, tool: float | None, bed: float | None) -> None:
        with self.client(machine) as client:
            client.set_temperatures(tool=tool, bed=bed)

    def home(self, machine: BaseMachineType, axes: list[str]) -> None:
        with self.client(machine) as client:
            client.home(axes)

    def jog(self, machine: BaseMachineType, step: Jog) -> None:
        with self.client(machine) as client:
            client.jog(step)

    def set_fan(self, machine: BaseMachineType, percent: float) -> None:
        with self.client(machine) as client:
            client.set_fan(percent)

    def set_speed_factor(self, machine: BaseMachineType, percent: float) -> None:
        with self.client(machine) as client:
            client.set_speed_factor(percent)

    def set_flow_factor(self, machine: BaseMachineType, percent: float) -> None:
        with self.client(machine) as client:
            client.set_flow_factor(percent)

    def send_gcode(self, machine: BaseMachineType, line: str) -> None:
        with self.client(machine) as client:
            client.send_gcode_line(line)

    def print_file(self, machine: BaseMachineType, name: str) -> None:
        with self.client(machine) as client:
            client.print_file(name)

    def emergency_stop(self, machine: BaseMachineType) -> None:
        with self.client(machine) as client:
            client.emergency_stop()


class OctoPrintDriver(ClientPrinterDriver):
    SLUG = "octoprint"
    NAME = "OctoPrint"
    DESCRIPTION = "A printer behind OctoPrint (REST API with an API key; polling)."
    client_class = OctoPrintClient
    MACHINE_SETTINGS = {
        **COMMON_SETTINGS,
        "API_KEY": {
            **COMMON_SETTINGS["API_KEY"],
            "description": "A user's or an application's API key (OctoPrint: Settings → API). Write-only.",
            "required": True,
        },
    }


class PrusaLinkDriver(ClientPrinterDriver):
    SLUG = "prusalink"
    NAME = "PrusaLink"
    DESCRIPTION = "A Prusa printer with PrusaLink (v1 API; HTTP digest login or API key)."
    client_class = PrusaLinkClient
    MACHINE_SETTINGS = {
        **COMMON_SETTINGS,
        "API_KEY": {
            **COMMON_SETTINGS["API_KEY"],
            "description": "Older firmware: the API key (X-Api-Key). Leave empty to use the password.",
        },
        "USERNAME": {
            "name": "User name",
            "description": "Digest login user; the printer shows it with the password.",
            "type": "str",
            "default": "maker",
        },
        "PASSWORD": {
            "name": "Password",
            "description": "Digest login password shown on the printer (used when API key is empty).",
            "type": "str",
            "secret": True,
        },
        "STORAGE": {
            "name": "Storage",
            "description": "Where files go: usb on MK4/MINI/XL, local on a Pi-hosted MK3.",
            "type": "str",
            "default": "usb",
        },
    }

    def client_options(self, machine: BaseMachineType) -> dict[str, Any]:
        return {
            **super().client_options(machine),
            "username": machine.get_setting("USERNAME") or None,
            "password": machine.get_setting("PASSWORD") or None,
            "storage": machine.get_setting("STORAGE"),
        }

    def check_settings(self, machine: BaseMachineType) -> None:
        super().check_settings(machine)
        if not (machine.get_setting("API_KEY") or machine.get_setting("PASSWORD")):
            raise ValueError("PrusaLink needs API_KEY or PASSWORD (the digest password shown on the printer)")


class MoonrakerDriver(ClientPrinterDriver):
    SLUG = "moonraker"
    NAME = "Moonraker (Klipper)"
    DESCRIPTION = "A Klipper printer through Moonraker's HTTP API."
    client_class = MoonrakerClient
    MACHINE_SETTINGS = {
        **COMMON_SETTINGS,
        "API_KEY": {
            **COMMON_SETTINGS["API_KEY"],
            "description": "Moonraker API key; leave empty when Lab MES is a trusted client. Write-only.",
        },
        "TOOL_COUNT": {
            "name": "Extruders",
            "description": "How many extruders to read (extruder, extruder1, …).",
            "type": "int",
            "min": 1,
            "max": 16,
            "default": 1,
        },
    }

    def client_options(self, machine: BaseMachineType) -> dict[str, Any]:
        return {**super().client_options(machine), "tool_count": machine.get_setting("TOOL_COUNT")}


class PrinterDriversPlugin(MachineDriverMixin, MesPlugin):
    SLUG = "printer-drivers"
    NAME = "3D printer drivers"
    VERSION = "1.0.0"
    AUTHOR = "Lab MES"
    DESCRIPTION = "Drivers for printers behind OctoPrint, PrusaLink and Moonraker (Klipper)."
    MES_VERSION = ">=0.1"

    def get_machine_drivers(self) -> list[type[BasePrinterDriver]]:
        return [OctoPrintDriver, PrusaLinkDriver, MoonrakerDriver]
