"""A simulated webcam: a small PNG drawn from the printer's state, at ``/p/<n>/webcam/?action=snapshot``.

The path is mjpg-streamer's (what OctoPi and Mainsail OS serve), and like it the picture needs no API
key. The picture: the bed (warmer colour while heated), the part growing with the job's progress (blue
while printing, amber when paused, green when finished, grey when stopped, red on an error), and the
nozzle moving along the top of the part. Pure ``zlib``: no imaging library.
"""

from __future__ import annotations

import struct
import zlib

from aiohttp import web

from .model import Phase, SimPrinter

WIDTH, HEIGHT = 160, 120
SNAPSHOT_TAIL = "webcam"
BACKGROUND = (40, 44, 52)
BED_COLD, BED_HOT = (110, 110, 120), (200, 110, 60)
PART_COLOURS = {
    Phase.HEATING: (70, 130, 200),
    Phase.PRINTING: (70, 130, 200),
    Phase.PAUSING: (220, 170, 40),
    Phase.PAUSED: (220, 170, 40),
    Phase.CANCELLING: (150, 150, 150),
    Phase.FINISHING: (70, 130, 200),
    Phase.FINISHED: (80, 180, 90),
    Phase.STOPPED: (150, 150, 150),
    Phase.ERROR: (210, 60, 60),
}
NOZZLE = (230, 230, 230)


def is_snapshot_request(request: web.Request) -> bool:
    return (
        request.match_info["tail"].strip("/") == SNAPSHOT_TAIL and request.query.get("action") == "snapshot"
    )


def _png(pixels: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _fill(pixels: list[bytearray], x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
    for y in range(max(0, y0), min(HEIGHT, y1)):
        row = pixels[y]
        for x in range(max(0, x0), min(WIDTH, x1)):
            row[3 * x : 3 * x + 3] = bytes(colour)


def snapshot_png(printer: SimPrinter) -> bytes:
    """The printer as its camera would see it now."""
    now = printer.advance()
    pixels = [bytearray(bytes(BACKGROUND) * WIDTH) for _ in range(HEIGHT)]
    hot = printer.bed.actual(now) > 40
    _fill(pixels, 20, 100, 140, 108, BED_HOT if hot else BED_COLD)
    job = printer.job or printer.last_job
    colour = PART_COLOURS.get(printer.phase)
    if job is not None and colour is not None:
        progress = job.progress(now) if printer.job is not None else 100.0
        if printer.phase in (Phase.STOPPED, Phase.ERROR, Phase.CANCELLING):
            progress = job.progress(job.ended_at or now)
        top = 100 - round(60 * progress / 100)
        _fill(pixels, 55, top, 105, 100, colour)
        if printer.job is not None:
            x = 55 + round(now * 10) % 50  # the nozzle sweeps over the part
            _fill(pixels, x - 3, top - 8, x + 3, top, NOZZLE)
    return _png(pixels)


async def snapshot(printer: SimPrinter, request: web.Request) -> web.Response:
    return web.Response(
        body=snapshot_png(printer), content_type="image/png", headers={"Cache-Control": "no-store"}
    )
