"""PrusaLink v1 client: X-Api-Key, or HTTP digest auth (user ``maker`` and the printer's password).

State comes from ``GET /api/v1/status`` alone (printer state, nozzle and bed, and the job's id and
progress); the job's file name from ``GET /api/v1/job`` while a job exists.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from requests.auth import HTTPDigestAuth

from machines.machine_types.printer_controls import Control
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterCapabilities,
    PrinterJobInfo,
    PrinterRejected,
    PrinterState,
    PrinterStatus,
    RemoteFile,
)

from .base import HashingReader, PrinterClient, derive_heating, map_status, temperature, to_float

# The spec's enum (Prusa-Link-Web openapi.yaml) spells ATTENTION with three Ts; firmware sends the
# correct spelling. Both are mapped. BUSY without a job (calibrating, moving, loading filament) is
# neither idle nor a print: it is reported as unknown so nothing starts a job on it.
STATE_MAP: dict[str, PrinterStatus] = {
    "IDLE": PrinterStatus.IDLE,
    "READY": PrinterStatus.IDLE,
    "BUSY": PrinterStatus.UNKNOWN,
    "PRINTING": PrinterStatus.PRINTING,
    "PAUSED": PrinterStatus.PAUSED,
    "FINISHED": PrinterStatus.AWAITING_BED_CLEAR,
    "STOPPED": PrinterStatus.AWAITING_BED_CLEAR,
    "ERROR": PrinterStatus.ERROR,
    "ATTENTION": PrinterStatus.ERROR,
    "ATTTENTION": PrinterStatus.ERROR,
}


class PrusaLinkClient(PrinterClient):
    kind = "prusalink"
    # PrusaLink (v1) has no G-code, temperature or motion endpoints: it prints stored files only.
    CONTROLS = frozenset({Control.PRINT_FILE})

    def __init__(self, base_url: str, *, storage: str = "usb", **kwargs):
        self.storage = storage.strip("/")
        super().__init__(base_url, **kwargs)

    def _configure_auth(self) -> None:
        if self.api_key:
            self.session.headers["X-Api-Key"] = self.api_key
        elif self.password:
            self.session.auth = HTTPDigestAuth(self.username or "maker", self.password)

    def _file_path(self, name: str) -> str:
        return f"/api/v1/files/{quote(self.storage)}/{quote(name)}"

    def version(self) -> dict:
        return self._get_object("/api/version")

    def info(self) -> dict:
        return self._get_object("/api/v1/info")

    def _status(self) -> dict:
        return self._get_object("/api/v1/status")

    def _job_id(self) -> int:
        job = self._status().get("job") or {}
        job_id = job.get("id")
        if not isinstance(job_id, int):
            raise PrinterRejected("the printer has no current job")
        return job_id

    def get_state(self) -> PrinterState:
        data = self._status()
        printer = self._field(data, "printer", path="/api/v1/status")
        raw = self._field(printer, "state", path="/api/v1/status")
        if not isinstance(raw, str):
            raise PrinterBadResponse(f"/api/v1/status: printer.state is not text: {raw!r}")
        job = data.get("job") if isinstance(data.get("job"), dict) else None
        status = map_status(STATE_MAP, raw, where=f"PrusaLink {self.base_url}")
        if raw == "BUSY" and job:
            status = PrinterStatus.PRINTING
        temperatures = {
            "tool0": temperature(printer.get("temp_nozzle"), printer.get("target_nozzle")),
            "bed": temperature(printer.get("temp_bed"), printer.get("target_bed")),
        }
        info = self._job_info(job) if job else None
        message = ""
        printer_status = printer.get("status_printer")
        if isinstance(printer_status, dict) and printer_status.get("ok") is False:
            message = str(printer_status.get("message") or "")
        if raw in ("ATTENTION", "ATTTENTION") and not message:
            message = "the printer needs attention at its screen"
        status = derive_heating(status, temperatures, info.progress if info else None)
        return PrinterState(
            status=status, temperatures=temperatures, job=info, raw_state=raw, message=message
        )

    def _job_info(self, job: dict) -> PrinterJobInfo:
        name = ""
        response = self._request("GET", "/api/v1/job", ok=(200, 204))
        if response.status_code == 200:
            detail = self._json_object(response, "/api/v1/job")
            file = detail.get("file") or {}
            name = str(file.get("display_name") or file.get("name") or "")
        return PrinterJobInfo(
            file_name=name,
            progress=to_float(job.get("progress")),
            time_used=to_float(job.get("time_printing")),
            time_left=to_float(job.get("time_remaining")),
        )

    def upload(self, path: Path, name: str, sha256: str) -> RemoteFile:
        handle, size = self._open_upload(path)
        with handle:
            reader = HashingReader(handle, size)
            self._request(
                "PUT",
                self._file_path(name),
                data=reader,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size),
                    "Print-After-Upload": "?0",
                    "Overwrite": "?1",
                },
                read_timeout=self.upload_read_timeout,
            )
        self._check_sent_digest(reader, sha256, name)
        return RemoteFile(name=name, size=size, sha256=sha256.lower())

    def start(self, name: str) -> None:
        self._request("POST", self._file_path(name))

    def pause(self) -> None:
        self._request("PUT", f"/api/v1/job/{self._job_id()}/pause")

    def resume(self) -> None:
        self._request("PUT", f"/api/v1/job/{self._job_id()}/resume")

    def cancel(self) -> None:
        self._request("DELETE", f"/api/v1/job/{self._job_id()}")

    def delete_file(self, name: str) -> None:
        self._request("DELETE", self._file_path(name))

    def list_files(self) -> list[RemoteFile]:
        path = f"/api/v1/files/{quote(self.storage)}"
        data = self._get_object(path)
        children = data.get("children")
        if not isinstance(children, list):
            raise PrinterBadResponse(f"{path}: children is not a list")
        result: list[RemoteFile] = []
        for child in children:
            if isinstance(child, dict) and child.get("type") != "FOLDER" and child.get("name"):
                result.append(self._remote_file(child))
        return result

    @staticmethod
    def _remote_file(entry: dict) -> RemoteFile:
        size = entry.get("size")
        return RemoteFile(
            name=str(entry.get("display_name") or entry["name"]), size=size if isinstance(size, int) else None
        )

    def file_info(self, name: str) -> RemoteFile | None:
        response = self._request("GET", self._file_path(name), ok=(200, 404))
        if response.status_code == 404:
            return None
        return self._remote_file(self._json_object(response, self._file_path(name)))

    def capabilities(self) -> PrinterCapabilities:
        info = self.info()
        free = None
        response = self._request("GET", "/api/v1/storage", ok=(200, 404))
        if response.status_code == 200:
            for entry in self._json_object(response, "/api/v1/storage").get("storage_list") or []:
                if isinstance(entry, dict) and str(entry.get("path", "")).strip("/") == self.storage:
                    free = entry.get("free_space") if isinstance(entry.get("free_space"), int) else None
        return PrinterCapabilities(
            can_pause=True,
            has_camera=bool(info.get("active_camera")),
            pushes_updates=False,
            max_file_size=free,
        )
