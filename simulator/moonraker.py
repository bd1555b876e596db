"""Moonraker HTTP API (Klipper), the parts Lab MES uses.

Like Moonraker, every JSON answer is wrapped in ``{"result": …}`` except the upload answer, and
errors are ``{"error": {"code": …, "message": …}}``.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from .controls import apply_gcode, emergency_stop
from .http import Router, json_response, read_multipart
from .model import Phase, SimConflict, SimPrinter

STATE_TEXT = {
    Phase.IDLE: "standby",
    Phase.HEATING: "printing",
    Phase.PRINTING: "printing",
    Phase.PAUSING: "printing",
    Phase.PAUSED: "paused",
    Phase.CANCELLING: "printing",
    Phase.FINISHING: "printing",
    Phase.FINISHED: "complete",
    Phase.STOPPED: "cancelled",
    Phase.ERROR: "error",
}

router = Router()


def authorized(printer: SimPrinter, request: web.Request) -> bool:
    given = request.headers.get("X-Api-Key") or request.query.get("token") or ""
    return hmac.compare_digest(given, printer.api_key)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message}}, status=status)


def unauthorized(request: web.Request) -> web.Response:
    return error(401, "Unauthorized")


def ok(printer: SimPrinter, result, status: int = 200) -> web.Response:
    return json_response(printer, {"result": result}, status=status)


def _klippy_state(printer: SimPrinter) -> tuple[str, str]:
    if printer.flapped():
        return "startup", "Klipper is restarting"
    if printer.phase is Phase.ERROR:
        return "shutdown", printer.error_message
    return "ready", "Printer is ready"


async def server_info(printer, request, params):
    state, _message = _klippy_state(printer)
    return ok(
        printer,
        {
            "klippy_connected": True,
            "klippy_state": state,
            "components": ["file_manager", "klippy_apis", "history", "job_state"],
            "failed_components": [],
            "registered_directories": ["config", "logs", "gcodes"],
            "warnings": [],
            "websocket_count": 0,
            "moonraker_version": "v0.9.3-sim",
            "missing_klippy_requirements": [],
            "api_version": [1, 5, 0],
            "api_version_string": "1.5.0",
        },
    )


async def webcams_list(printer, request, params):
    """One enabled webcam, its URLs relative to the printer's web root as Mainsail writes them."""
    return ok(
        printer,
        {
            "webcams": [
                {
                    "name": "bed",
                    "location": "printer",
                    "service": "mjpegstreamer-adaptive",
                    "enabled": True,
                    "target_fps": 15,
                    "stream_url": "/webcam/?action=stream",
                    "snapshot_url": "/webcam/?action=snapshot",
                    "flip_horizontal": False,
                    "flip_vertical": False,
                    "rotation": 0,
                    "source": "database",
                }
            ]
        },
    )


async def objects_query(printer, request, params):
    now = printer.advance()
    klippy, klippy_message = _klippy_state(printer)
    job = printer.job or printer.last_job
    state = STATE_TEXT[printer.phase]
    if printer.faults.get("unknown_state"):
        state = str(printer.faults["unknown_state"])
    printed = job.printed_at(now) if job else 0.0
    objects = {
        "webhooks": {"state": klippy, "state_message": klippy_message},
        "print_stats": {
            "filename": job.file.name if job and printer.phase is not Phase.IDLE else "",
            "total_duration": (now - job.started_at) if job and job is printer.job else 0.0,
            "print_duration": printed,
            "filament_used": 0.0,
            "state": state,
            "message": printer.error_message,
            "info": {"total_layer": None, "current_layer": None},
        },
        "virtual_sdcard": {
            "file_path": f"/home/pi/printer_data/gcodes/{job.file.name}" if job else None,
            "progress": (job.progress(now) / 100.0) if job else 0.0,
            "is_active": printer.phase in (Phase.PRINTING, Phase.HEATING),
            "file_position": int(job.file.size * printed / job.file.duration)
            if job and job.file.duration
            else 0,
            "file_size": job.file.size if job else 0,
        },
        "extruder": {"temperature": printer.tool.actual(now), "target": printer.tool.target, "power": 0.0},
        "heater_bed": {"temperature": printer.bed.actual(now), "target": printer.bed.target, "power": 0.0},
    }
    status = {}
    for name, attrs in request.query.items():
        if name in objects:
            wanted = [a for a in attrs.split(",") if a]
            status[name] = {k: v for k, v in objects[name].items() if not wanted or k in wanted}
    return ok(printer, {"eventtime": round(now, 3), "status": status})


def _klippy_ready(printer: SimPrinter) -> web.Response | None:
    klippy, message = _klippy_state(printer)
    if klippy != "ready":
        return error(503, f"Klippy Host not connected: {message}")
    return None


async def print_start(printer, request, params):
    name = request.query.get("filename") or ""
    if not name:
        form = await request.post()
        name = str(form.get("filename") or "")
    if not name:
        return error(400, "No value for argument 'filename'")
    if (refused := _klippy_ready(printer)) is not None:
        return refused
    try:
        printer.start(name)
    except KeyError:
        return error(400, f"File not found: {name}")
    except SimConflict as exc:
        return error(400, f"Print already in progress: {exc}")
    return ok(printer, "ok")


def _command(action):
    async def handler(printer, request, params):
        if (refused := _klippy_ready(printer)) is not None:
            return refused
        try:
            action(printer)
        except SimConflict as exc:
            return error(400, str(exc))
        return ok(printer, "ok")

    return handler


async def gcode_script(printer, request, params):
    """POST /printer/gcode/script: the script in the query or the JSON body, one line after another."""
    script = request.query.get("script")
    if script is None and request.can_read_body:
        script = (await request.json()).get("script")
    if not script:
        return error(400, "No value for argument 'script'")
    if (refused := _klippy_ready(printer)) is not None:
        return refused
    for line in str(script).splitlines():
        try:
            apply_gcode(printer, line)
        except SimConflict as exc:
            return error(400, f"{line}: {exc}")
    return ok(printer, "ok")


async def emergency_stop_handler(printer, request, params):
    emergency_stop(printer)
    return ok(printer, "ok")


async def files_list(printer, request, params):
    root = request.query.get("root", "gcodes")
    if root != "gcodes":
        return error(400, f"Invalid root request: {root}")
    return ok(
        printer,
        [
            {"path": f.name, "modified": f.uploaded_at, "size": f.size, "permissions": "rw"}
            for f in sorted(printer.files.values(), key=lambda f: f.name)
        ],
    )


async def files_metadata(printer, request, params):
    name = request.query.get("filename") or ""
    file = printer.files.get(name)
    if file is None:
        return error(404, f"Metadata not available for <{name}>")
    return ok(
        printer,
        {
            "filename": name,
            "size": file.size,
            "modified": file.uploaded_at,
            "estimated_time": file.duration,
            "first_layer_extr_temp": file.tool_target or None,
            "first_layer_bed_temp": file.bed_target or None,
            "print_start_time": None,
            "job_id": None,
        },
    )


async def files_upload(printer, request, params):
    if not (request.content_type or "").startswith("multipart/"):
        return error(400, "Multipart filename omitted")
    file, fields = await read_multipart(request)
    if file is None or not file.name.strip():
        return error(400, "Multipart filename omitted")
    checksum = (fields.get("checksum") or "").lower()
    if checksum and checksum != file.sha256:
        return error(422, f"File checksum mismatch: expected {checksum}, calculated {file.sha256}")
    root = fields.get("root", "gcodes")
    if root != "gcodes":
        return error(400, f"Invalid root request: {root}")
    if fields.get("path"):
        file.name = f"{fields['path'].strip('/')}/{file.name}"
    try:
        printer.store_file(file)
    except SimConflict:
        return error(403, "File is loaded, upload not permitted")
    started = False
    if fields.get("print", "false").lower() == "true" and _klippy_ready(printer) is None:
        try:
            printer.start(file.name)
            started = True
        except SimConflict:
            started = False
    return json_response(
        printer,
        {
            "item": {
                "path": file.name,
                "root": "gcodes",
                "modified": file.uploaded_at,
                "size": file.size,
                "permissions": "rw",
            },
            "print_started": started,
            "print_queued": False,
            "action": "create_file",
        },
        status=201,
    )


async def file_delete(printer, request, params):
    name = params["path"]
    try:
        file = printer.files.get(name)
        printer.delete_file(name)
    except KeyError:
        return error(404, f"File does not exist: gcodes/{name}")
    except SimConflict:
        return error(403, "File is loaded, DELETE not permitted")
    return ok(
        printer,
        {
            "item": {
                "path": name,
                "root": "gcodes",
                "modified": file.uploaded_at,
                "size": file.size,
                "permissions": "rw",
            },
            "action": "delete_file",
        },
    )


router.add("GET", "/server/info", server_info)
router.add("GET", "/server/webcams/list", webcams_list)
router.add("GET", "/printer/objects/query", objects_query)
router.add("POST", "/printer/objects/query", objects_query)
router.add("POST", "/printer/print/start", print_start)
router.add("POST", "/printer/gcode/script", gcode_script)
router.add("POST", "/printer/emergency_stop", emergency_stop_handler)
router.add("POST", "/printer/print/pause", _command(SimPrinter.pause))
router.add("POST", "/printer/print/resume", _command(SimPrinter.resume))
router.add("POST", "/printer/print/cancel", _command(SimPrinter.cancel))
router.add("GET", "/server/files/list", files_list)
router.add("GET", "/server/files/metadata", files_metadata)
router.add("POST", "/server/files/upload", files_upload)
router.add("DELETE", "/server/files/gcodes/{path:path}", file_delete)
