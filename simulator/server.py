"""One aiohttp process serving a fleet of simulated printers, each under ``/p/<n>/``.

Printer ``n`` (1-based) answers its personality's API under ``http://host:port/p/<n>``; its API key
is ``sim-key-<n>`` (not a secret: the simulator is for development and tests, bind it to localhost).
The control API lives under ``/_sim/`` (see docs/drivers.md).

Faults are per printer. "offline" closes each connection without an answer: one HTTP server
serves every printer, so it cannot refuse connections for one path prefix; a closed connection is
what a client sees when a printer drops off the network mid-request, and the client reports it as
unreachable exactly like a refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

from aiohttp import web

from . import moonraker, octoprint, prusalink, webcam
from .model import FAULT_KEYS, SimClock, SimConflict, SimPrinter, scan_bytes

logger = logging.getLogger(__name__)

PERSONALITIES: dict[str, ModuleType] = {
    "octoprint": octoprint,
    "prusalink": prusalink,
    "moonraker": moonraker,
}
CHOICES = (*PERSONALITIES, "mixed")
DEFAULT_TIMEOUT_FAULT = 60.0

SAMPLE_GCODE = b"""; Lab MES simulator sample part
M140 S60
M104 S215
M190 S60
M109 S215
G28
G1 Z0.2 F3000
; estimated printing time (normal mode) = 12m 30s
"""


def api_key_for(index: int) -> str:
    return f"sim-key-{index}"


def personality_for(personality: str, index: int) -> str:
    if personality == "mixed":
        order = ("octoprint", "prusalink", "moonraker")
        return order[(index - 1) % len(order)]
    return personality


class Fleet:
    def __init__(self, count: int, personality: str, speed: float = 1.0, sample_file: bool = True):
        if personality not in CHOICES:
            raise ValueError(f"unknown personality {personality!r}; choose one of {', '.join(CHOICES)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        self.personality = personality
        self.clock = SimClock(speed)
        self.counters = {
            "prints_started": 0,
            "manual_prints_started": 0,
            "dirty_bed_starts": 0,
            "requests": 0,
        }
        self.printers = [
            SimPrinter(i, personality_for(personality, i), api_key_for(i), self.clock, self.counters)
            for i in range(1, count + 1)
        ]
        if sample_file:
            sample = scan_bytes("sample_part.gcode", SAMPLE_GCODE)
            for printer in self.printers:
                printer.files[sample.name] = sample

    def get(self, index: str | int) -> SimPrinter | None:
        try:
            number = int(index)
        except (TypeError, ValueError):
            return None
        if 1 <= number <= len(self.printers):
            return self.printers[number - 1]
        return None

    def summary(self) -> dict:
        phases: dict[str, int] = {}
        for printer in self.printers:
            printer.advance()
            phases[printer.phase.value] = phases.get(printer.phase.value, 0) + 1
        return {
            "personality": self.personality,
            "count": len(self.printers),
            "speed": self.clock.speed,
            "phases": phases,
            **self.counters,
        }


# --- printer API ---------------------------------------------------------------------------------


async def _apply_transport_faults(printer: SimPrinter, request: web.Request) -> web.StreamResponse | None:
    faults = printer.faults
    if faults.get("offline"):
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # nothing is sent: the client sees the connection drop
    if faults.get("timeout"):
        value = faults["timeout"]
        await asyncio.sleep(DEFAULT_TIMEOUT_FAULT if value is True else float(value))
    if faults.get("slow"):
        await asyncio.sleep(float(faults["slow"]))
    if faults.get("http_500"):
        return web.Response(status=500, text="500 Internal Server Error")
    return None


def make_printer_handler(fleet: Fleet):
    async def handle(request: web.Request) -> web.StreamResponse:
        fleet.counters["requests"] += 1
        printer = fleet.get(request.match_info["index"])
        if printer is None:
            return web.json_response(
                {"error": f"no simulated printer {request.match_info['index']}"}, status=404
            )
        faulted = await _apply_transport_faults(printer, request)
        if faulted is not None:
            return faulted
        if webcam.is_snapshot_request(request):  # the camera needs no API key, like mjpg-streamer
            return await webcam.snapshot(printer, request)
        module = PERSONALITIES[printer.personality]
        if not module.authorized(printer, request):
            return module.unauthorized(request)
        handler, params, known = module.router.match(request.method, request.match_info["tail"])
        if handler is None:
            return web.json_response(
                {"error": "Method Not Allowed" if known else "Not Found"}, status=405 if known else 404
            )
        try:
            return await handler(printer, request, params)
        except json.JSONDecodeError:
            return web.json_response({"error": "Malformed JSON body in request"}, status=400)

    return handle


# --- control API ---------------------------------------------------------------------------------


def _control_printer(fleet: Fleet, request: web.Request) -> SimPrinter:
    printer = fleet.get(request.match_info["index"])
    if printer is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no simulated printer {request.match_info['index']}"}),
            content_type="application/json",
        )
    return printer


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not JSON: {exc}"}), content_type="application/json"
        ) from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be a JSON object"}), content_type="application/json"
        )
    return body


def make_control_routes(fleet: Fleet) -> list[web.RouteDef]:
    async def summary(request):
        return web.json_response(fleet.summary())

    async def printers(request):
        return web.json_response([p.snapshot() for p in fleet.printers])

    async def printer(request):
        return web.json_response(_control_printer(fleet, request).snapshot())

    async def faults(request):
        target = _control_printer(fleet, request)
        if request.method == "DELETE":
            target.set_faults(dict.fromkeys(target.faults))
            return web.json_response({"faults": target.faults})
        body = await _json_body(request)
        try:
            target.set_faults(body)
        except ValueError as exc:
            return web.json_response({"error": str(exc), "known_faults": FAULT_KEYS}, status=400)
        return web.json_response({"faults": target.faults})

    async def fault_help(request):
        return web.json_response(FAULT_KEYS)

    async def clear_bed(request):
        target = _control_printer(fleet, request)
        try:
            target.clear_bed()
        except SimConflict as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response(target.snapshot())

    async def manual_print(request):
        target = _control_printer(fleet, request)
        body = await _json_body(request)
        name = str(body.get("name") or "started_at_printer.gcode")
        try:
            duration = float(body.get("duration", 600))
        except (TypeError, ValueError):
            return web.json_response({"error": "duration must be a number of seconds"}, status=400)
        if duration <= 0:
            return web.json_response({"error": "duration must be positive"}, status=400)
        file = scan_bytes(name, f"; estimated printing time (normal mode) = {int(duration)}s\n".encode())
        try:
            target.start(name, manual=True, file=file)
        except SimConflict as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response(target.snapshot(), status=201)

    async def set_key(request):
        target = _control_printer(fleet, request)
        body = await _json_body(request)
        key = body.get("api_key")
        if not isinstance(key, str) or not key:
            return web.json_response({"error": "api_key must be a non-empty string"}, status=400)
        target.api_key = key
        return web.json_response({"index": target.index, "api_key_changed": True})

    return [
        web.get("/_sim", summary),
        web.get("/_sim/faults", fault_help),
        web.get("/_sim/printers", printers),
        web.get("/_sim/printers/{index}", printer),
        web.route("PATCH", "/_sim/printers/{index}/faults", faults),
        web.post("/_sim/printers/{index}/faults", faults),
        web.delete("/_sim/printers/{index}/faults", faults),
        web.post("/_sim/printers/{index}/clear-bed", clear_bed),
        web.post("/_sim/printers/{index}/manual-print", manual_print),
        web.put("/_sim/printers/{index}/api-key", set_key),
    ]


def build_app(fleet: Fleet) -> web.Application:
    app = web.Application(client_max_size=2 * 1024**3)
    app.add_routes(make_control_routes(fleet))
    app.router.add_route("*", "/p/{index}/{tail:.*}", make_printer_handler(fleet))
    return app


# --- running it ----------------------------------------------------------------------------------


@dataclass
class SimulatorHandle:
    """A running simulator: where it listens, its fleet, and how to stop it (from its own loop)."""

    fleet: Fleet
    runner: web.AppRunner
    host: str
    port: int
    urls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def printer_url(self, index: int) -> str:
        return f"{self.url}/p/{index}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_simulator(
    count: int,
    personality: str = "mixed",
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float = 1.0,
    *,
    sample_file: bool = True,
) -> SimulatorHandle:
    """Start serving on the running loop; port 0 picks a free port (see ``handle.port``)."""
    fleet = Fleet(count, personality, speed=speed, sample_file=sample_file)
    runner = web.AppRunner(build_app(fleet), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    sockets: Iterable = site._server.sockets if site._server else []
    bound = next(iter(sockets)).getsockname()[1] if sockets else port
    return SimulatorHandle(fleet=fleet, runner=runner, host=host, port=bound)


class ThreadedSimulator:
    """The simulator on its own event loop in a daemon thread (for tests and synchronous callers)."""

    def __init__(
        self,
        count: int,
        personality: str = "mixed",
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self._args = (count, personality, host, port, speed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="printer-simulator", daemon=True)
        self.handle: SimulatorHandle | None = None

    def start(self) -> ThreadedSimulator:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_simulator(*self._args), self._loop)
        self.handle = future.result(timeout=30)
        return self

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def fleet(self) -> Fleet:
        return self.handle.fleet

    def printer_url(self, index: int) -> str:
        return self.handle.printer_url(index)

    def api_key(self, index: int) -> str:
        return self.fleet.get(index).api_key

    def call(self, function, *args):
        """Run ``function(*args)`` on the simulator's loop (the model is not thread-safe)."""

        async def run():
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.handle.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ThreadedSimulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
