"""Moonraker (Klipper) client, X-Api-Key.

One ``GET /printer/objects/query`` gives everything: Klipper's host state (``webhooks``), the job
(``print_stats``, ``virtual_sdcard``) and the heaters (``extruder``, ``extruder1``…, ``heater_bed``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from requests_toolbelt.multipart.encoder import MultipartEncoder

from machines.machine_types.printer_controls import (
    Control,
    Jog,
    gcode_fan,
    gcode_home,
    gcode_jog,
    gcode_preheat,
)
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterCapabilities,
    PrinterJobInfo,
    PrinterState,
    PrinterStatus,
    RemoteFile,
    Temperature,
)

from .base import HashingReader, PrinterClient, derive_heating, map_status, temperature, to_float

MAX_UPLOAD = 1024 * 1024 * 1024  # Moonraker's default [server] max_upload_size (1024 MiB)
# print_stats.state (Klipper docs, Status reference).
STATE_MAP: dict[str, PrinterStatus] = {
    "standby": PrinterStatus.IDLE,
    "printing": PrinterStatus.PRINTING,
    "paused": PrinterStatus.PAUSED,
    "complete": PrinterStatus.AWAITING_BED_CLEAR,
    "cancelled": PrinterStatus.AWAITING_BED_CLEAR,
    "error": PrinterStatus.ERROR,
}
# webhooks.state: Klipper's own host state; anything but "ready" overrides the job state.
KLIPPY_MAP: dict[str, PrinterStatus] = {
    "ready": PrinterStatus.IDLE,
    "startup": PrinterStatus.DISCONNECTED,
    "disconnected": PrinterStatus.DISCONNECTED,
    "shutdown": PrinterStatus.ERROR,
    "error": PrinterStatus.ERROR,
}


class MoonrakerClient(PrinterClient):
    kind = "moonraker"
    CONTROLS = frozenset(Control)

    def __init__(self, base_url: str, *, tool_count: int = 1, **kwargs):
        if tool_count < 1:
            raise ValueError("tool_count must be at least 1")
        self.tool_count = tool_count
        super().__init__(base_url, **kwargs)

    def _result(self, method: str, path: str, **kwargs):
        data = self._json_object(self._request(method, path, **kwargs), path)
        if "result" not in data:
            raise PrinterBadResponse(f"{path}: answer has no result")
        return data["result"]

    def server_info(self) -> dict:
        return self._result("GET", "/server/info")

    def webcam_snapshot_url(self) -> str | None:
        """The first enabled webcam's ``snapshot_url`` from ``GET /server/webcams/list`` (Moonraker
        0.8+); relative URLs are relative to the web front end, usually the same host."""
        result = self._result("GET", "/server/webcams/list")
        webcams = result.get("webcams") if isinstance(result, dict) else None
        for webcam in webcams if isinstance(webcams, list) else []:
            if isinstance(webcam, dict) and webcam.get("enabled", True):
                url = webcam.get("snapshot_url")
                if isinstance(url, str) and url.strip():
                    return url.strip()
        return None

    def _extruders(self) -> list[str]:
        return ["extruder"] + [f"extruder{i}" for i in range(1, self.tool_count)]

    def get_state(self) -> PrinterState:
        objects = ["webhooks", "print_stats", "virtual_sdcard", "heater_bed", *self._extruders()]
        query = "&".join(objects)
        result = self._result("GET", f"/printer/objects/query?{query}")
        status = self._field(result, "status", path="/printer/objects/query")
        webhooks = status.get("webhooks") or {}
        stats = status.get("print_stats") or {}
        klippy = webhooks.get("state")
        raw = stats.get("state")
        if not isinstance(klippy, str) or not isinstance(raw, str):
            raise PrinterBadResponse("/printer/objects/query: webhooks.state or print_stats.state missing")
        where = f"Moonraker {self.base_url}"
        klippy_status = map_status(KLIPPY_MAP, klippy, where=where)
        if klippy_status is PrinterStatus.IDLE:
            normalized = map_status(STATE_MAP, raw, where=where)
            message = str(stats.get("message") or "")
            raw_state = raw
        else:
            normalized = klippy_status
            message = str(webhooks.get("state_message") or "")
            raw_state = f"klippy:{klippy}"
        temperatures: dict[str, Temperature] = {}
        for index, name in enumerate(self._extruders()):
            heater = status.get(name)
            if isinstance(heater, dict):
                temperatures[f"tool{index}"] = temperature(heater.get("temperature"), heater.get("target"))
        bed = status.get("heater_bed")
        if isinstance(bed, dict):
            temperatures["bed"] = temperature(bed.get("temperature"), bed.get("target"))
        job = self._job_info(stats, status.get("virtual_sdcard") or {})
        normalized = derive_heating(normalized, temperatures, job.progress if job else None)
        return PrinterState(
            status=normalized, temperatures=temperatures, job=job, raw_state=raw_state, message=message
        )

    @staticmethod
    def _job_info(stats: dict, sdcard: dict) -> PrinterJobInfo | None:
        name = stats.get("filename")
        if not name:
            return None
        fraction = to_float(sdcard.get("progress"))
        progress = round(fraction * 100.0, 2) if fraction is not None else None
        used = to_float(stats.get("print_duration"))
        left = None
        if used is not None and fraction and 0 < fraction < 1:
            left = used / fraction - used  # Moonraker reports no estimate; extrapolate linearly
        elif fraction is not None and fraction >= 1:
            left = 0.0
        return PrinterJobInfo(file_name=str(name), progress=progress, time_used=used, time_left=left)

    def upload(self, path: Path, name: str, sha256: str) -> RemoteFile:
        handle, size = self._open_upload(path)
        with handle:
            reader = HashingReader(handle, size)
            encoder = MultipartEncoder(
                fields={
                    "root": "gcodes",
                    "checksum": sha256.lower(),
                    "print": "false",
                    "file": (name, reader, "application/octet-stream"),
                }
            )
            response = self._request(
                "POST",
                "/server/files/upload",
                data=encoder,
                headers={"Content-Type": encoder.content_type},
                read_timeout=self.upload_read_timeout,
            )
        data = self._json_object(response, "/server/files/upload")
        item = (data.get("result") or data).get("item") or {}
        self._check_sent_digest(reader, sha256, name)
        return RemoteFile(name=str(item.get("path") or name), size=size, sha256=sha256.lower())

    def start(self, name: str) -> None:
        self._result("POST", f"/printer/print/start?filename={quote(name)}")

    # --- operator controls: Klipper G-code through /printer/gcode/script ---------------------------
    # https://moonraker.readthedocs.io/en/latest/web_api/#run-a-gcode

    def _script(self, *lines: str) -> None:
        self._result("POST", "/printer/gcode/script", json={"script": "\n".join(lines)})

    def set_temperatures(self, *, tool: float | None, bed: float | None) -> None:
        self._script(*gcode_preheat(tool, bed))

    def home(self, axes: list[str]) -> None:
        self._script(*gcode_home(axes))

    def jog(self, step: Jog) -> None:
        self._script(*gcode_jog(step))

    def set_fan(self, percent: float) -> None:
        self._script(*gcode_fan(percent))

    def set_speed_factor(self, percent: float) -> None:
        self._script(f"M220 S{round(percent)}")

    def set_flow_factor(self, percent: float) -> None:
        self._script(f"M221 S{round(percent)}")

    def send_gcode_line(self, line: str) -> None:
        self._script(line)

    def emergency_stop(self) -> None:
        self._result("POST", "/printer/emergency_stop")

    def pause(self) -> None:
        self._result("POST", "/printer/print/pause")

    def resume(self) -> None:
        self._result("POST", "/printer/print/resume")

    def cancel(self) -> None:
        self._result("POST", "/printer/print/cancel")

    def delete_file(self, name: str) -> None:
        self._result("DELETE", f"/server/files/gcodes/{quote(name)}")

    def list_files(self) -> list[RemoteFile]:
        result = self._result("GET", "/server/files/list?root=gcodes")
        if not isinstance(result, list):
            raise PrinterBadResponse("/server/files/list: result is not a list")
        return [
            RemoteFile(
                name=str(entry["path"]),
                size=entry.get("size") if isinstance(entry.get("size"), int) else None,
            )
            for entry in result
            if isinstance(entry, dict) and entry.get("path")
        ]

    def file_info(self, name: str) -> RemoteFile | None:
        response = self._request("GET", f"/server/files/metadata?filename={quote(name)}", ok=(200, 404))
        if response.status_code == 404:
            return None
        result = self._json_object(response, "/server/files/metadata").get("result") or {}
        size = result.get("size")
        return RemoteFile(name=name, size=size if isinstance(size, int) else None)

    def capabilities(self) -> PrinterCapabilities:
        info = self.server_info()
        components = info.get("components") or []
        return PrinterCapabilities(
            can_pause=True,
            has_camera="webcam" in components,
            pushes_updates=False,
            max_file_size=MAX_UPLOAD,
        )
