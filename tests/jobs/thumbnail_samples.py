"""Real-format slicer thumbnail blocks for tests, with tiny pictures made here (no image library)."""

from __future__ import annotations

import base64
import struct
import zlib


def tiny_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 80, 20)) -> bytes:
    """A valid RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def tiny_jpeg(width: int = 16, height: int = 12) -> bytes:
    """The markers a JPEG starts with (SOI, APP0, a baseline start-of-frame) and its end: enough for the
    header checks, which is all the pre-flight reads."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def block(data: bytes, width: int, height: int, *, kind: str = "", line: int = 78) -> str:
    """One thumbnail block as PrusaSlicer/OrcaSlicer write it (``kind`` "JPG" or "QOI" for the others;
    Cura writes the same ``; thumbnail begin`` form)."""
    encoded = base64.b64encode(data).decode()
    name = f"thumbnail_{kind}" if kind else "thumbnail"
    lines = [f"; {name} begin {width}x{height} {len(encoded)}"]
    lines += [f"; {encoded[i : i + line]}" for i in range(0, len(encoded), line)]
    lines += [f"; {name} end", ";"]
    return "\n".join(lines) + "\n"


def with_header(body: bytes, *blocks: str) -> bytes:
    """``body`` (a G-code file) with thumbnail blocks after its first comment line, where slicers put them."""
    first, _, rest = body.partition(b"\n")
    return first + b"\n;\n" + "".join(blocks).encode() + rest


def with_thumbnail(body: bytes) -> bytes:
    return with_header(body, block(tiny_png(16, 16), 16, 16))
