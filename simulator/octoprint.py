"""OctoPrint 1.11 REST API, as much of it as the Lab MES client and contract suite use.

Shapes and status codes follow OctoPrint's documented REST API and were checked against a real
OctoPrint 1.11.8 with its virtual printer (tests/servers/octoprint.py).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from .controls import apply_gcode
from .http import Router, empty, json_response, read_multipart
from .model import Phase, SimConflict, SimPrinter

VERSION = {"api": "0.1", "server": "1.11.8", "text": "OctoPrint 1.11.8"}
FORBIDDEN = {
    "error": "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
}
STATE_TEXT = {
    Phase.IDLE: "Operational",
    Phase.HEATING: "Printing",
    Phase.PRINTING: "Printing",
    Phase.PAUSING: "Pausing",
    Phase.PAUSED: "Paused",
    Phase.CANCELLING: "Cancelling",
    Phase.FINISHING: "Finishing",
    Phase.FINISHED: "Operational",
    Phase.STOPPED: "Operational",
    Phase.ERROR: "Offline after error",
}

router = Router()


def authorized(printer: SimPrinter, request: web.Request) -> bool:
    given = request.headers.get("X-Api-Key") or request.query.get("apikey") or ""
    return hmac.compare_digest(given, printer.api_key)


def unauthorized(request: web.Request) -> web.Response:
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        # A real OctoPrint 1.11 treats a write without a valid key as a browser write: CSRF check.
        return web.json_response({"error": "CSRF validation failed"}, status=400)
    return web.json_response(FORBIDDEN, status=403)


def state_text(printer: SimPrinter) -> str:
    if printer.faults.get("unknown_state"):
        return str(printer.faults["unknown_state"])
    if printer.flapped():
        return "Offline"
    return STATE_TEXT[printer.phase]


def _operational(text: str) -> bool:
    return text not in ("Offline", "Offline after error", "Error", "Closed")


def _file_entry(printer: SimPrinter, request: web.Request, name: str) -> dict:
    file = printer.files[name]
    base = f"{request.scheme}://{request.host}/p/{printer.index}"
    return {
        "date": int(file.uploaded_at),
        "display": name,
        "hash": file.sha1,
        "name": name.rsplit("/", 1)[-1],
        "origin": "local",
        "path": name,
        "refs": {
            "download": f"{base}/downloads/files/local/{name}",
            "resource": f"{base}/api/files/local/{name}",
        },
        "size": file.size,
        "type": "machinecode",
        "typePath": ["machinecode", "gcode"],
        "user": "mes",
    }


async def version(printer, request, params):
    return json_response(printer, VERSION)


async def settings(printer, request, params):
    """The part of GET /api/settings Lab MES reads: the default webcam's snapshot URL (the simulated
    camera, simulator.webcam), in the compat fields OctoPrint 1.11 still fills."""
    base = f"{request.scheme}://{request.host}/p/{printer.index}"
    return json_response(
        printer,
        {
            "api": {"allowCrossOrigin": False},
            "webcam": {
                "webcamEnabled": True,
                "timelapseEnabled": False,
                "defaultWebcam": "classic",
                "snapshotWebcam": "classic",
                "streamUrl": f"{base}/webcam/?action=stream",
                "snapshotUrl": f"{base}/webcam/?action=snapshot",
                "snapshotTimeout": 5,
                "snapshotSslValidation": True,
            },
        },
    )


async def connection(printer, request, params):
    text = state_text(printer)
    up = _operational(text)
    return json_response(
        printer,
        {
            "current": {
                "baudrate": 115200 if up else None,
                "port": "VIRTUAL" if up else None,
                "printerProfile": "_default",
                "state": text if up else "Closed",
            },
            "options": {
                "baudratePreference": 115200,
                "baudrates": [250000, 230400, 115200, 57600, 38400, 19200, 9600],
                "portPreference": "VIRTUAL",
                "ports": ["VIRTUAL"],
                "printerProfilePreference": "_default",
                "printerProfiles": [{"id": "_default", "name": "Default"}],
            },
        },
    )


async def connection_command(printer, request, params):
    body = await request.json()
    if body.get("command") == "connect":
        printer.faults.pop("firmware_error", None)
        printer.reconnect()
    return empty()


async def printer_state(printer, request, params):
    now = printer.advance()
    text = state_text(printer)
    if not _operational(text):
        return json_response(printer, {"error": "Printer is not operational"}, status=409)
    phase = printer.phase
    flags = {
        "cancelling": phase is Phase.CANCELLING,
        "closedOrError": False,
        "error": False,
        "finishing": phase is Phase.FINISHING,
        "operational": True,
        "paused": phase is Phase.PAUSED,
        "pausing": phase is Phase.PAUSING,
        "printing": phase in (Phase.PRINTING, Phase.HEATING),
        "ready": not printer.busy,
        "resuming": False,
        "sdReady": True,
    }
    return json_response(
        printer,
        {
            "sd": {"ready": True},
            "state": {"error": "", "flags": flags, "text": text},
            "temperature": {
                "bed": {"actual": printer.bed.actual(now), "offset": 0, "target": printer.bed.target},
                "tool0": {"actual": printer.tool.actual(now), "offset": 0, "target": printer.tool.target},
            },
        },
    )


async def printer_command(printer, request, params):
    body = await request.json()
    commands = body.get("commands") or [body.get("command", "")]
    for command in commands:
        if command == "!!DEBUG:trigger_fatal_error_marlin":
            printer.firmware_error(
                "Thermal Runaway, system stopped! Heater_ID: bed - Printer halted. kill() called!"
            )
            continue
        try:
            apply_gcode(printer, command)
        except SimConflict as exc:
            return json_response(printer, {"error": str(exc)}, status=409)
    return empty()


def _not_operational(printer: SimPrinter) -> web.Response | None:
    printer.advance()
    if printer.phase is Phase.ERROR:
        return json_response(printer, {"error": "Printer is not operational"}, status=409)
    return None


async def printer_tool(printer, request, params):
    """POST /api/printer/tool: target (per tool) and flowrate."""
    if (refused := _not_operational(printer)) is not None:
        return refused
    body = await request.json()
    if body.get("command") == "target":
        for tool, value in (body.get("targets") or {}).items():
            apply_gcode(printer, f"M104 T{tool.removeprefix('tool')} S{float(value):g}")
    elif body.get("command") == "flowrate":
        apply_gcode(printer, f"M221 S{int(body['factor'])}")
    else:
        return json_response(printer, {"error": f"unknown command {body.get('command')!r}"}, status=400)
    return empty()


async def printer_bed(printer, request, params):
    if (refused := _not_operational(printer)) is not None:
        return refused
    body = await request.json()
    if body.get("command") != "target":
        return json_response(printer, {"error": f"unknown command {body.get('command')!r}"}, status=400)
    apply_gcode(printer, f"M140 S{float(body['target']):g}")
    return empty()


async def printer_printhead(printer, request, params):
    """POST /api/printer/printhead: jog, home (409 while printing, as OctoPrint), feedrate."""
    if (refused := _not_operational(printer)) is not None:
        return refused
    body = await request.json()
    command = body.get("command")
    if command in {"jog", "home"} and printer.busy:
        return json_response(printer, {"error": "Printer is currently printing"}, status=409)
    if command == "home":
        apply_gcode(printer, "G28 " + " ".join(a.upper() for a in body.get("axes") or []))
    elif command == "jog":
        moves = " ".join(f"{a.upper()}{float(body[a]):g}" for a in "xyz" if body.get(a))
        for line in ("G91", f"G1 {moves}", "G90"):
            apply_gcode(printer, line)
    elif command == "feedrate":
        apply_gcode(printer, f"M220 S{int(body['factor'])}")
    else:
        return json_response(printer, {"error": f"unknown command {command!r}"}, status=400)
    return empty()


async def job(printer, request, params):
    now = printer.advance()
    text = state_text(printer)
    current = printer.job or printer.last_job
    file = current.file if current else None
    if current is None or (current is printer.last_job and printer.phase is Phase.ERROR):
        progress = {"completion": None, "filepos": None, "printTime": None, "printTimeLeft": None}
    elif current is printer.job:
        printed = current.printed_at(now)
        progress = {
            "completion": current.progress(now),
            "filepos": int(file.size * printed / file.duration) if file.duration else 0,
            "printTime": int(now - current.started_at),
            "printTimeLeft": int(file.duration - printed),
        }
    elif printer.phase is Phase.FINISHED:
        progress = {
            "completion": 100.0,
            "filepos": file.size,
            "printTime": int(file.duration),
            "printTimeLeft": 0,
        }
    else:
        progress = {"completion": None, "filepos": None, "printTime": None, "printTimeLeft": None}
    progress["printTimeLeftOrigin"] = "estimate" if progress["printTimeLeft"] is not None else None
    data = {
        "job": {
            "averagePrintTime": None,
            "estimatedPrintTime": file.duration if file else None,
            "filament": None,
            "file": {
                "date": int(file.uploaded_at) if file else None,
                "display": file.name if file else None,
                "name": file.name if file else None,
                "origin": "local" if file else None,
                "path": file.name if file else None,
                "size": file.size if file else None,
            },
            "lastPrintTime": None,
            "user": "mes" if file else None,
        },
        "progress": progress,
        "state": text,
    }
    if printer.phase is Phase.ERROR:
        data["error"] = printer.error_message
    return json_response(printer, data)


async def job_command(printer, request, params):
    body = await request.json()
    command = body.get("command")
    try:
        if command == "pause":
            action = body.get("action", "toggle")
            if action == "toggle":
                action = "resume" if printer.phase is Phase.PAUSED else "pause"
            if action == "pause":
                if printer.phase not in (Phase.PRINTING, Phase.HEATING, Phase.PAUSING, Phase.PAUSED):
                    raise SimConflict("Printer is not printing, cannot pause")
                printer.pause()
            elif action == "resume":
                if printer.phase is Phase.PRINTING:
                    return empty()
                printer.resume()
            else:
                return json_response(printer, {"error": f"Unknown action: {action}"}, status=400)
        elif command == "cancel":
            printer.cancel()
        elif command in ("start", "restart"):
            current = printer.job or printer.last_job
            if current is None:
                raise SimConflict("Printer is not operational or no file selected")
            printer.start(current.file.name)
        else:
            return json_response(printer, {"error": f"Unknown command: {command}"}, status=400)
    except SimConflict as exc:
        return json_response(printer, {"error": str(exc)}, status=409)
    return empty()


async def files_list(printer, request, params):
    return json_response(
        printer,
        {
            "files": [_file_entry(printer, request, name) for name in sorted(printer.files)],
            "free": 10**11,
            "total": 2 * 10**11,
        },
    )


async def files_upload(printer, request, params):
    if not (request.content_type or "").startswith("multipart/"):
        return json_response(printer, {"error": "No file included"}, status=400)
    file, fields = await read_multipart(request)
    if file is None:
        return json_response(printer, {"error": "No file included"}, status=400)
    if fields.get("path"):
        file.name = f"{fields['path'].strip('/')}/{file.name}"
    try:
        printer.store_file(file)
    except SimConflict:
        return json_response(
            printer, {"error": "Trying to overwrite file that is currently being printed"}, status=409
        )
    do_print = fields.get("print", "false").lower() == "true"
    started = False
    if do_print:
        try:
            printer.start(file.name)
            started = True
        except SimConflict:
            started = False
    base = f"{request.scheme}://{request.host}/p/{printer.index}"
    return json_response(
        printer,
        {
            "done": True,
            "effectivePrint": started,
            "effectiveSelect": started or fields.get("select", "false").lower() == "true",
            "files": {
                "local": {
                    "name": file.name.rsplit("/", 1)[-1],
                    "origin": "local",
                    "path": file.name,
                    "refs": {
                        "download": f"{base}/downloads/files/local/{file.name}",
                        "resource": f"{base}/api/files/local/{file.name}",
                    },
                }
            },
        },
        status=201,
    )


async def file_get(printer, request, params):
    name = params["path"]
    if name not in printer.files:
        return json_response(printer, {"error": f"File not found on 'local': {name}"}, status=404)
    return json_response(printer, _file_entry(printer, request, name))


async def file_command(printer, request, params):
    name = params["path"]
    body = await request.json()
    if body.get("command") != "select":
        return json_response(printer, {"error": f"Unknown command: {body.get('command')}"}, status=400)
    if name not in printer.files:
        return json_response(printer, {"error": f"File not found on 'local': {name}"}, status=404)
    if not body.get("print"):
        return empty()
    if not _operational(state_text(printer)):
        return json_response(
            printer, {"error": "Printer is not operational, cannot directly start printing"}, status=409
        )
    try:
        printer.start(name)
    except SimConflict:
        return json_response(
            printer, {"error": "Printer is already printing, cannot select a new file"}, status=409
        )
    return empty()


async def file_delete(printer, request, params):
    name = params["path"]
    try:
        printer.delete_file(name)
    except KeyError:
        return json_response(printer, {"error": f"File not found on 'local': {name}"}, status=404)
    except SimConflict:
        return json_response(
            printer, {"error": "Trying to delete a file that is currently in use"}, status=409
        )
    return empty()


router.add("GET", "/api/version", version)
router.add("GET", "/api/settings", settings)
router.add("GET", "/api/connection", connection)
router.add("POST", "/api/connection", connection_command)
router.add("GET", "/api/printer", printer_state)
router.add("POST", "/api/printer/command", printer_command)
router.add("POST", "/api/printer/tool", printer_tool)
router.add("POST", "/api/printer/bed", printer_bed)
router.add("POST", "/api/printer/printhead", printer_printhead)
router.add("GET", "/api/job", job)
router.add("POST", "/api/job", job_command)
router.add("GET", "/api/files/local", files_list)
router.add("GET", "/api/files", files_list)
router.add("POST", "/api/files/local", files_upload)
router.add("GET", "/api/files/local/{path:path}", file_get)
router.add("POST", "/api/files/local/{path:path}", file_command)
router.add("DELETE", "/api/files/local/{path:path}", file_delete)
