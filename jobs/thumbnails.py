"""The picture a slicer embeds in the G-code: found at upload, checked, and kept next to the job.

Text G-code carries thumbnails as base64 in comment blocks at the top of the file, before the first
command:

    ; thumbnail begin 300x300 12345        PrusaSlicer, OrcaSlicer, Bambu Studio, Cura (PNG)
    ; thumbnail_JPG begin 300x300 12345    PrusaSlicer/OrcaSlicer when asked for JPG
    ; thumbnail_QOI begin 300x300 12345    PrusaSlicer/OrcaSlicer when asked for QOI
    ; iVBORw0KGgo…
    ; thumbnail end                        (thumbnail_JPG end, thumbnail_QOI end)

Binary G-code (.bgcode) has thumbnail blocks (type 5: format, width, height); ``jobs.gcode`` hands
them over as candidates too. The largest PNG is kept, else the largest JPEG. QOI is not decoded: no
maintained pure-Python decoder exists on PyPI (the ``qoi`` package wraps C and needs numpy), so a file
with only QOI pictures gets a note instead. Every picture is checked (magic bytes, a size cap, its own
header's dimensions agreeing and sane); a garbled or oversized block is skipped, never an error.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from django.core.files.base import ContentFile

MAX_BYTES = 512 * 1024  # a decoded picture larger than this is skipped
MAX_SIDE = 2048  # pixels; a thumbnail is never larger
HEADER_SCAN_BYTES = 8 * 1024 * 1024  # thumbnails sit at the top of the file: never read further
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}

_BEGIN = re.compile(rb"^;\s*thumbnail(?:_(PNG|JPG|QOI))?\s+begin\s+(\d+)\s*x\s*(\d+)(?:\s+(\d+))?", re.I)
_END = re.compile(rb"^;\s*thumbnail(?:_(?:PNG|JPG|QOI))?\s+end\b", re.I)
_BASE64 = re.compile(rb"^[A-Za-z0-9+/=]+$")


@dataclass(frozen=True)
class Thumbnail:
    kind: str  # "png" or "jpg"
    width: int
    height: int
    data: bytes

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]

    @property
    def extension(self) -> str:
        return self.kind

    def describe(self) -> dict:
        return {"format": self.kind, "width": self.width, "height": self.height, "bytes": len(self.data)}


@dataclass(frozen=True)
class Candidate:
    """A block as the file declares it: its format ("png", "jpg", "qoi"), size and raw bytes."""

    kind: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Choice:
    thumbnail: Thumbnail | None
    note: str = ""  # why there is none (or why a better one was skipped); "" when nothing to say


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the PNG's IHDR chunk, or None when it is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the JPEG's first start-of-frame marker, or None when there is none."""
    if not data.startswith(JPEG_MAGIC):
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def validate(candidate: Candidate) -> Thumbnail | None:
    """A checked picture, or None: wrong magic, too large, or dimensions absent, absurd or different
    from what the block declared."""
    data = candidate.data
    if not data or len(data) > MAX_BYTES or candidate.kind not in CONTENT_TYPES:
        return None
    size = png_size(data) if candidate.kind == "png" else jpeg_size(data)
    if size is None:
        return None
    width, height = size
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        return None
    if candidate.width and candidate.height and (candidate.width, candidate.height) != (width, height):
        return None
    return Thumbnail(candidate.kind, width, height, data)


def choose(candidates: list[Candidate]) -> Choice:
    """The largest valid PNG, else the largest valid JPEG, with a note for what was skipped."""
    valid = [t for t in (validate(c) for c in candidates) if t is not None]
    best = None
    for kind in ("png", "jpg"):
        of_kind = [t for t in valid if t.kind == kind]
        if of_kind:
            best = max(of_kind, key=lambda t: t.width * t.height)
            break
    if best is not None:
        return Choice(best)
    if not candidates:
        return Choice(None)
    if all(c.kind == "qoi" for c in candidates):
        return Choice(None, "the file's thumbnails are QOI only, which Lab MES does not decode")
    return Choice(None, "the file's thumbnail could not be read (damaged, too large or not an image)")


def text_candidates(stream: BinaryIO, *, limit: int = HEADER_SCAN_BYTES) -> list[Candidate]:
    """Thumbnail blocks of text G-code, read from the top until the first command (or ``limit`` bytes)."""
    stream.seek(0)
    found: list[Candidate] = []
    current: tuple[str, int, int] | None = None
    parts: list[bytes] = []
    size = 0
    read = 0
    for raw in stream:
        read += len(raw)
        if read > limit:
            break
        line = raw.strip()
        if not line:
            continue
        if not line.startswith(b";"):
            break  # the first command: the header, and every thumbnail, is behind us
        if current is None:
            match = _BEGIN.match(line)
            if match:
                kind = (match.group(1) or b"PNG").decode().lower()
                current = (kind, int(match.group(2)), int(match.group(3)))
                parts, size = [], 0
            continue
        if _BEGIN.match(line):  # a block that never ended: counted as garbled, the new one starts
            found.append(Candidate(current[0], current[1], current[2], b""))
            match = _BEGIN.match(line)
            kind = (match.group(1) or b"PNG").decode().lower()
            current = (kind, int(match.group(2)), int(match.group(3)))
            parts, size = [], 0
            continue
        if _END.match(line):
            candidate = _decode(current, parts)
            if candidate is not None:
                found.append(candidate)
            current = None
            continue
        chunk = line[1:].strip()
        size += len(chunk)
        if not _BASE64.match(chunk) or size > MAX_BYTES * 4 // 3 + 8:
            found.append(Candidate(current[0], current[1], current[2], b""))  # garbled or oversized
            current = None
            continue
        parts.append(chunk)
    if current is not None:  # the header ended inside a block
        found.append(Candidate(current[0], current[1], current[2], b""))
    return found


def _decode(block: tuple[str, int, int], parts: list[bytes]) -> Candidate | None:
    kind, width, height = block
    try:
        data = base64.b64decode(b"".join(parts), validate=True)
    except (binascii.Error, ValueError):
        return None
    return Candidate(kind, width, height, data)


# Binary G-code thumbnail block formats (libbgcode's EThumbnailFormat).
BGCODE_FORMATS = {0: "png", 1: "jpg", 2: "qoi"}


def thumbnail_place(*, job, choice: Choice) -> tuple[str, ContentFile] | None:
    """Name the job's thumbnail (set on the row) and return the bytes to store under that name.

    Storing is left to the caller, last, just before its transaction commits (see ``jobs.services.submit``).
    """
    picture = choice.thumbnail
    if picture is None:
        return None
    name = job.thumbnail.field.generate_filename(job, f"thumb.{picture.extension}")
    job.thumbnail.name = name
    return name, ContentFile(picture.data)
