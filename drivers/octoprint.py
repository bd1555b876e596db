"""OctoPrint REST client (X-Api-Key), polling only.

State comes from ``GET /api/job`` (state text, error, job, progress; answers in every state) and the
temperatures from ``GET /api/printer`` (409 while the printer is not operational: then no temperatures).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

from requests_toolbelt.multipart.encoder import MultipartEncoder

from machines.machine_types.printer_controls import Control, Jog, gcode_fan
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterCapabilities,
    PrinterJobInfo,
    PrinterState,
    PrinterStatus,
    PrinterUnauthorized,
    RemoteFile,
    Temperature,
)

from .base import HashingReader, PrinterClient, derive_heating, map_status, temperature, to_float

logger = logging.getLogger(__name__)

# Every text octoprint.util.comm.MachineCom.getStateString() returns (1.11), plus "Closed" seen on
# /api/connection after a firmware error.
STATE_MAP: dict[str, PrinterStatus] = {
    "Offline": PrinterStatus.DISCONNECTED,
    "Closed": PrinterStatus.DISCONNECTED,
    "Opening serial connection": PrinterStatus.DISCONNECTED,
    "Detecting serial connection": PrinterStatus.DISCONNECTED,
    "Connecting": PrinterStatus.DISCONNECTED,
    "Operational": PrinterStatus.IDLE,
    "Starting": PrinterStatus.PRINTING,
    "Starting print from SD": PrinterStatus.PRINTING,
    "Starting to send file to SD": PrinterStatus.PRINTING,
    "Printing": PrinterStatus.PRINTING,
    "Printing from SD": PrinterStatus.PRINTING,
    "Sending file to SD": PrinterStatus.PRINTING,
    "Transferring file to SD": PrinterStatus.PRINTING,
    "Cancelling": PrinterStatus.CANCELLING,
    "Pausing": PrinterStatus.PAUSING,
    "Paused": PrinterStatus.PAUSED,
    "Resuming": PrinterStatus.PRINTING,
    "Finishing": PrinterStatus.FINISHING,
    "Error": PrinterStatus.ERROR,
    "Offline after error": PrinterStatus.ERROR,
}
TOOL_KEY = re.compile(r"^tool\d+$")
DEFAULT_MAX_UPLOAD = 1024 * 1024 * 1024  # OctoPrint's server.uploads.maxSize default (1 GiB)


class OctoPrintClient(PrinterClient):
    kind = "octoprint"
    CONTROLS = frozenset(Control)  # https://docs.octoprint.org/en/master/api/printer.html

    def _error_for(self, response, method: str, path: str):
        # OctoPrint treats a write without a valid API key as a browser session write and answers
        # 400 "CSRF validation failed" instead of 403 (seen on 1.11.8): that is a credentials problem.
        error = super()._error_for(response, method, path)
        if response.status_code == 400 and "CSRF" in str(error):
            return PrinterUnauthorized(f"{error} (the API key was not accepted)")
        return error

    def _path(self, name: str) -> str:
        return f"/api/files/local/{quote(name)}"

    def version(self) -> dict:
        return self._get_object("/api/version")

    def connection(self) -> dict:
        return self._get_object("/api/connection")

    def webcam_snapshot_url(self) -> str | None:
        """``webcam.snapshotUrl`` of ``GET /api/settings``: the default webcam's snapshot URL (1.9+:
        from the classic webcam plugin's ``snapshot`` setting). OctoPrint leaves the whole ``webcam``
        section empty for a key without the WEBCAM permission, and the URL empty when none is set."""
        webcam = self._get_object("/api/settings").get("webcam")
        if not isinstance(webcam, dict) or webcam.get("webcamEnabled") is False:
            return None
        url = webcam.get("snapshotUrl")
        return (url.strip() or None) if isinstance(url, str) else None

    def get_state(self) -> PrinterState:
        job = self._get_object("/api/job")
        raw = self._field(job, "state", path="/api/job")
        if not isinstance(raw, str):
            raise PrinterBadResponse(f"/api/job: state is not text: {raw!r}")
        status = map_status(STATE_MAP, raw, where=f"OctoPrint {self.base_url}")
        if raw.startswith("Error") and status is PrinterStatus.UNKNOWN:
            status = PrinterStatus.ERROR
        message = str(job.get("error") or "")
        temperatures = self._temperatures()
        info = self._job_info(job)
        status = derive_heating(status, temperatures, info.progress if info else None)
        return PrinterState(
            status=status, temperatures=temperatures, job=info, raw_state=raw, message=message
        )

    def _temperatures(self) -> dict[str, Temperature]:
        response = self._request("GET", "/api/printer", params={"exclude": "sd"}, ok=(200, 409))
        if response.status_code == 409:  # "Printer is not operational": no readings
            return {}
        data = self._json_object(response, "/api/printer")
        readings = data.get("temperature") or {}
        if not isinstance(readings, dict):
            raise PrinterBadResponse("/api/printer: temperature is not an object")
        result: dict[str, Temperature] = {}
        for key, value in readings.items():
            if (TOOL_KEY.match(key) or key == "bed") and isinstance(value, dict):
                result[key] = temperature(value.get("actual"), value.get("target"))
        return result

    @staticmethod
    def _job_info(job: dict) -> PrinterJobInfo | None:
        file = (job.get("job") or {}).get("file") or {}
        name = file.get("path") or file.get("name")
        if not name:
            return None
        progress = job.get("progress") or {}
        return PrinterJobInfo(
            file_name=str(name),
            progress=to_float(progress.get("completion")),
            time_used=to_float(progress.get("printTime")),
            time_left=to_float(progress.get("printTimeLeft")),
        )

    def upload(self, path: Path, name: str, sha256: str) -> RemoteFile:
        handle, size = self._open_upload(path)
        with handle:
            reader = HashingReader(handle, size)
            encoder = MultipartEncoder(
                fields={
                    "file": (name, reader, "application/octet-stream"),
                    "select": "false",
                    "print": "false",
                }
            )
            response = self._request(
                "POST",
                "/api/files/local",
                data=encoder,
                headers={"Content-Type": encoder.content_type},
                read_timeout=self.upload_read_timeout,
            )
        self._json_object(response, "/api/files/local")
        self._check_sent_digest(reader, sha256, name)
        return RemoteFile(name=name, size=size, sha256=sha256.lower())

    def start(self, name: str) -> None:
        self._request("POST", self._path(name), json={"command": "select", "print": True})

    def pause(self) -> None:
        self._request("POST", "/api/job", json={"command": "pause", "action": "pause"})

    def resume(self) -> None:
        self._request("POST", "/api/job", json={"command": "pause", "action": "resume"})

    def cancel(self) -> None:
        self._request("POST", "/api/job", json={"command": "cancel"})

    def send_gcode(self, *commands: str) -> None:
        self._request("POST", "/api/printer/command", json={"commands": list(commands)})

    def delete_file(self, name: str) -> None:
        self._request("DELETE", self._path(name))

    def list_files(self) -> list[RemoteFile]:
        data = self._get_object("/api/files/local", params={"recursive": "true"})
        files = data.get("files")
        if not isinstance(files, list):
            raise PrinterBadResponse("/api/files/local: files is not a list")
        result: list[RemoteFile] = []
        self._collect(files, result)
        return result

    def _collect(self, entries: list, result: list[RemoteFile]) -> None:
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            if entry.get("type") == "folder":
                self._collect(entry.get("children") or [], result)
            elif entry.get("path") or entry.get("name"):
                result.append(self._remote_file(entry))

    @staticmethod
    def _remote_file(entry: dict) -> RemoteFile:
        size = entry.get("size")
        # OctoPrint's "hash" is SHA-1, so it cannot fill RemoteFile.sha256.
        return RemoteFile(
            name=str(entry.get("path") or entry["name"]), size=size if isinstance(size, int) else None
        )

    def file_info(self, name: str) -> RemoteFile | None:
        response = self._request("GET", self._path(name), ok=(200, 404))
        if response.status_code == 404:
            return None
        return self._remote_file(self._json_object(response, self._path(name)))

    def capabilities(self) -> PrinterCapabilities:
        return PrinterCapabilities(
            can_pause=True, has_camera=False, pushes_updates=False, max_file_size=DEFAULT_MAX_UPLOAD
        )

    def reconnect(self) -> None:
        """Ask OctoPrint to reconnect to the printer (after a firmware error closed the port)."""
        self._request("POST", "/api/connection", json={"command": "connect"})

    # --- operator controls: OctoPrint's printer operations (/api/printer/*) ---------------------

    def set_temperatures(self, *, tool: float | None, bed: float | None) -> None:
        if tool is not None:
            self._request("POST", "/api/printer/tool", json={"command": "target", "targets": {"tool0": tool}})
        if bed is not None:
            self._request("POST", "/api/printer/bed", json={"command": "target", "target": bed})

    def home(self, axes: list[str]) -> None:
        self._request(
            "POST", "/api/printer/printhead", json={"command": "home", "axes": axes or ["x", "y", "z"]}
        )

    def jog(self, step: Jog) -> None:
        self._request(
            "POST", "/api/printer/printhead", json={"command": "jog", "x": step.x, "y": step.y, "z": step.z}
        )

    def set_fan(self, percent: float) -> None:
        self.send_gcode(*gcode_fan(percent))

    def set_speed_factor(self, percent: float) -> None:
        self._request(
            "POST", "/api/printer/printhead", json={"command": "feedrate", "factor": round(percent)}
        )

    def set_flow_factor(self, percent: float) -> None:
        self._request("POST", "/api/printer/tool", json={"command": "flowrate", "factor": round(percent)})

    def send_gcode_line(self, line: str) -> None:
        self.send_gcode(line)

    def emergency_stop(self) -> None:
        # M112 halts the firmware at once; OctoPrint sends it ahead of anything queued.
        self.send_gcode("M112")
