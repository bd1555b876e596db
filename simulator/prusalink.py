"""PrusaLink v1 API (Prusa-Link-Web spec/openapi.yaml, "1.0.0"), with digest auth or X-Api-Key.

The simulated printer's digest user is ``maker`` and its password is the printer's API key.
Storage is ``usb`` (as on the MK4/MINI/XL firmware); ``local`` is accepted as an alias.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.request import parse_http_list, parse_keqv_list

from aiohttp import web

from .http import Router, empty, json_response, read_stream_to_file
from .model import Phase, SimConflict, SimPrinter

REALM = "Printer API"
USERNAME = "maker"
_NONCE_KEY = secrets.token_bytes(16)
STORAGES = {"usb": "USB", "local": "LOCAL"}
STATE_TEXT = {
    Phase.IDLE: "IDLE",
    Phase.HEATING: "PRINTING",
    Phase.PRINTING: "PRINTING",
    Phase.PAUSING: "PRINTING",
    Phase.PAUSED: "PAUSED",
    Phase.CANCELLING: "BUSY",
    Phase.FINISHING: "PRINTING",
    Phase.FINISHED: "FINISHED",
    Phase.STOPPED: "STOPPED",
    Phase.ERROR: "ERROR",
}
JOB_STATE = {
    Phase.PAUSED: "PAUSED",
    Phase.FINISHED: "FINISHED",
    Phase.STOPPED: "STOPPED",
    Phase.ERROR: "ERROR",
}

router = Router()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - HTTP digest auth is MD5 by definition


def _nonce() -> str:
    salt = secrets.token_hex(8)
    return salt + hmac.new(_NONCE_KEY, salt.encode(), "sha256").hexdigest()[:16]


def _nonce_ok(nonce: str) -> bool:
    salt, mac = nonce[:16], nonce[16:]
    return hmac.compare_digest(mac, hmac.new(_NONCE_KEY, salt.encode(), "sha256").hexdigest()[:16])


def authorized(printer: SimPrinter, request: web.Request) -> bool:
    key = request.headers.get("X-Api-Key")
    if key is not None:
        return hmac.compare_digest(key, printer.api_key)
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("digest "):
        return False
    values = parse_keqv_list(parse_http_list(header[7:]))
    needed = ("username", "realm", "nonce", "uri", "response")
    if (
        any(k not in values for k in needed)
        or values["username"] != USERNAME
        or not _nonce_ok(values["nonce"])
    ):
        return False
    if values["uri"] != request.raw_path:
        return False
    ha1 = _md5(f"{USERNAME}:{REALM}:{printer.api_key}")
    ha2 = _md5(f"{request.method}:{values['uri']}")
    if values.get("qop"):
        expected = _md5(
            f"{ha1}:{values['nonce']}:{values.get('nc', '')}:{values.get('cnonce', '')}:{values['qop']}:{ha2}"
        )
    else:
        expected = _md5(f"{ha1}:{values['nonce']}:{ha2}")
    return hmac.compare_digest(expected, values["response"])


def unauthorized(request: web.Request) -> web.Response:
    challenge = f'Digest realm="{REALM}", nonce="{_nonce()}", qop="auth", algorithm=MD5'
    return web.Response(text="Unauthorized", status=401, headers={"WWW-Authenticate": challenge})


def state_text(printer: SimPrinter) -> str:
    if printer.faults.get("unknown_state"):
        return str(printer.faults["unknown_state"])
    if printer.flapped():
        return "BUSY"
    return STATE_TEXT[printer.phase]


def _text_error(status: int, message: str) -> web.Response:
    return web.Response(text=message, status=status)


def _storage(params: dict) -> str | None:
    storage = params["storage"].strip("/")
    return storage if storage in STORAGES else None


def _file_info(printer: SimPrinter, storage: str, name: str) -> dict:
    file = printer.files[name]
    return {
        "name": name,
        "display_name": name,
        "read_only": False,
        "size": file.size,
        "type": "PRINT_FILE",
        "m_timestamp": int(file.uploaded_at),
        "refs": {"download": f"/{storage}/{name}"},
        "meta": {"estimated_print_time": int(file.duration)},
    }


async def version(printer, request, params):
    return json_response(
        printer,
        {
            "api": "1.0.0",
            "version": "0.8.1",
            "printer": "1.3.1",
            "text": "PrusaLink",
            "firmware": "6.1.3+8061",
            "sdk": "0.8.1",
            "capabilities": {"upload-by-put": True},
        },
    )


async def info(printer, request, params):
    return json_response(
        printer,
        {
            "mmu": False,
            "name": f"sim-{printer.index}",
            "location": "Simulated lab",
            "farm_mode": False,
            "nozzle_diameter": 0.4,
            "min_extrusion_temp": 170,
            "serial": f"SIM{printer.index:08d}",
            "sd_ready": True,
            "active_camera": False,
            "hostname": f"sim-{printer.index}",
            "port": "/dev/ttyACM0",
            "network_error_chime": False,
        },
    )


def _job_fields(printer: SimPrinter, now: float) -> dict | None:
    job = printer.job or printer.last_job
    if job is None:
        return None
    printed = job.printed_at(now)
    return {
        "id": job.id,
        "progress": job.progress(now),
        "time_remaining": int(job.file.duration - printed),
        "time_printing": int(
            now - job.started_at if job is printer.job else (job.ended_at or now) - job.started_at
        ),
    }


async def status(printer, request, params):
    now = printer.advance()
    text = state_text(printer)
    data = {
        "printer": {
            "state": text,
            "temp_nozzle": printer.tool.actual(now),
            "target_nozzle": printer.tool.target,
            "temp_bed": printer.bed.actual(now),
            "target_bed": printer.bed.target,
            "axis_z": 0.2,
            "flow": 100,
            "speed": 100,
            "fan_hotend": 0,
            "fan_print": 0,
            "status_printer": {
                "ok": printer.phase is not Phase.ERROR,
                "message": printer.error_message or "OK",
            },
        },
        "storage": {"name": "usb", "path": "/usb/", "read_only": False},
    }
    job = _job_fields(printer, now)
    if job is not None and printer.phase is not Phase.IDLE:
        data["job"] = job
    return json_response(printer, data)


async def job_get(printer, request, params):
    now = printer.advance()
    job = printer.job or printer.last_job
    if job is None or printer.phase is Phase.IDLE:
        return empty(204)
    fields = _job_fields(printer, now)
    fields.update(
        {
            "state": JOB_STATE.get(printer.phase, "PRINTING"),
            "inaccurate_estimates": False,
            "file": {
                "name": job.file.name,
                "display_name": job.file.name,
                "path": "/usb",
                "display_path": "/USB",
                "size": job.file.size,
                "m_timestamp": int(job.file.uploaded_at),
            },
        }
    )
    return json_response(printer, fields)


def _current_job(printer: SimPrinter, job_id: str):
    printer.advance()
    if printer.job is None or str(printer.job.id) != job_id:
        return None
    return printer.job


async def job_pause(printer, request, params):
    if _current_job(printer, params["id"]) is None:
        return _text_error(404, "Job not found")
    if printer.phase not in (Phase.PRINTING, Phase.HEATING, Phase.PAUSING, Phase.PAUSED):
        return _text_error(409, "Job is not printing")
    printer.pause()
    return empty()


async def job_resume(printer, request, params):
    if _current_job(printer, params["id"]) is None:
        return _text_error(404, "Job not found")
    try:
        printer.resume()
    except SimConflict as exc:
        return _text_error(409, str(exc))
    return empty()


async def job_stop(printer, request, params):
    if _current_job(printer, params["id"]) is None:
        return _text_error(404, "Job not found")
    try:
        printer.cancel()
    except SimConflict as exc:
        return _text_error(409, str(exc))
    return empty()


async def storage(printer, request, params):
    used = sum(f.size for f in printer.files.values())
    return json_response(
        printer,
        {
            "storage_list": [
                {
                    "name": "usb",
                    "type": "USB",
                    "path": "/usb",
                    "print_files": used,
                    "system_files": 0,
                    "free_space": 8 * 1024**3 - used,
                    "total_space": 8 * 1024**3,
                    "available": True,
                    "read_only": False,
                }
            ]
        },
    )


async def folder(printer, request, params):
    storage_name = _storage(params)
    if storage_name is None:
        return _text_error(404, "Storage not found")
    return json_response(
        printer,
        {
            "name": storage_name,
            "read_only": False,
            "type": "FOLDER",
            "m_timestamp": 0,
            "children": [_file_info(printer, storage_name, n) for n in sorted(printer.files)],
        },
    )


async def file_get(printer, request, params):
    storage_name = _storage(params)
    name = params["path"]
    if storage_name is None or name not in printer.files:
        return _text_error(404, "File not found")
    if request.method == "HEAD":
        printing = printer.job is not None and printer.job.file.name == name
        return web.Response(
            status=200, headers={"Read-Only": "false", "Currently-Printed": str(printing).lower()}
        )
    return json_response(printer, _file_info(printer, storage_name, name))


async def file_put(printer, request, params):
    storage_name = _storage(params)
    if storage_name is None:
        return _text_error(404, "Storage not found")
    name = params["path"]
    overwrite = request.headers.get("Overwrite", "?0") == "?1"
    if not overwrite and name in printer.files:
        await request.read()
        return _text_error(409, "File already exists")
    file = await read_stream_to_file(name, request.content)
    if request.content_length is not None and file.size != request.content_length:
        return _text_error(400, "Upload incomplete")
    try:
        printer.store_file(file, overwrite=overwrite)
    except SimConflict as exc:
        return _text_error(409, str(exc))
    if request.headers.get("Print-After-Upload", "?0") == "?1":
        try:
            printer.start(name)
        except SimConflict as exc:
            return _text_error(409, f"Uploaded, but not printed: {exc}")
    return empty(201)


async def file_print(printer, request, params):
    storage_name = _storage(params)
    name = params["path"]
    if storage_name is None or name not in printer.files:
        return _text_error(404, "File not found")
    try:
        printer.start(name)
    except SimConflict as exc:
        return _text_error(409, str(exc))
    return empty()


async def file_delete(printer, request, params):
    storage_name = _storage(params)
    if storage_name is None:
        return _text_error(404, "Storage not found")
    try:
        printer.delete_file(params["path"])
    except KeyError:
        return _text_error(404, "File not found")
    except SimConflict as exc:
        return _text_error(409, str(exc))
    return empty()


router.add("GET", "/api/version", version)
router.add("GET", "/api/v1/info", info)
router.add("GET", "/api/v1/status", status)
router.add("GET", "/api/v1/job", job_get)
router.add("PUT", "/api/v1/job/{id}/pause", job_pause)
router.add("PUT", "/api/v1/job/{id}/resume", job_resume)
router.add("DELETE", "/api/v1/job/{id}", job_stop)
router.add("GET", "/api/v1/storage", storage)
router.add("GET", "/api/v1/files/{storage}", folder)
router.add("GET", "/api/v1/files/{storage}/{path:path}", file_get)
router.add("PUT", "/api/v1/files/{storage}/{path:path}", file_put)
router.add("POST", "/api/v1/files/{storage}/{path:path}", file_print)
router.add("DELETE", "/api/v1/files/{storage}/{path:path}", file_delete)
