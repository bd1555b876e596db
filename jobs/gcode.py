"""Read what a G-code file is and what it will do, streaming it once from disk.

Nothing here holds the file in memory: text G-code is read line by line, binary G-code (.bgcode, Prusa's
block format) block by block. The scanner collects the slicer's metadata, the temperatures the file
sets, the bounds of every extruding move and any forbidden command with its line number.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import BinaryIO

from jobs.thumbnails import BGCODE_FORMATS, Candidate, Choice, choose, text_candidates

EXTENSIONS = {".gcode": "gcode", ".gco": "gcode", ".g": "gcode", ".bgcode": "bgcode"}
BGCODE_MAGIC = b"GCDE"
_CHECK_FIRST_LINES = 500  # content check: these many non-empty lines must all look like G-code

# A G-code word ("G1", "M104", "T0", "N10") or a Klipper-style extended command ("PRINT_START EXTRUDER=215").
_CODE_LINE = re.compile(rb"^(?:[A-Za-z]\s*[-+.\d]|[A-Z_][A-Z0-9_]*(?:\s|=|$))")
_WORD = re.compile(rb"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
_COMMAND = re.compile(rb"^([GMTgmt])0*(\d+)(?:\.(\d+))?")
_HEADER = re.compile(r"^;\s*([A-Za-z_][\w .\[\]()/-]*?)\s*[=:]\s*(.*?)\s*$")
_GENERATED = re.compile(
    r"^;\s*(?:generated (?:by|with)|created by)\s+([A-Za-z][\w.-]*?)(?:[ _]v?(\d[\w.+-]*))?(?:\s|$)", re.I
)
_DURATION = re.compile(r"(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?")
# Comment keys we keep (lower-case). Everything else in a slicer's config dump is ignored.
_HEADER_KEYS = {
    "time",
    "estimated printing time (normal mode)",
    "estimated printing time",
    "model printing time",
    "filament used",
    "filament used [mm]",
    "filament used [g]",
    "filament used [cm3]",
    "total filament length [mm]",
    "total filament weight [g]",
    "filament_density",
    "filament_diameter",
    "filament_type",
    "nozzle_diameter",
    "extruder_train.0.nozzle.diameter",
    "extruder_train.0.material.guid",
    "material",
    "flavor",
    "printer_model",
    "max_layer_z",
}
# Cura's Griffin flavour: ";EXTRUDER_TRAIN.0.MATERIAL.VOLUME_USED:1234" (mm³) per extruder.
_GRIFFIN_VOLUME = re.compile(r"^extruder_train\.(\d+)\.material\.volume_used$")


class NotGcode(ValueError):
    """The file's content is not G-code of the kind its extension says."""


@dataclass
class Bounds:
    min: list[float] = field(default_factory=lambda: [float("inf")] * 3)
    max: list[float] = field(default_factory=lambda: [float("-inf")] * 3)

    def add(self, x: float, y: float, z: float) -> None:
        for i, v in enumerate((x, y, z)):
            if v < self.min[i]:
                self.min[i] = v
            if v > self.max[i]:
                self.max[i] = v

    @property
    def empty(self) -> bool:
        return self.min[0] == float("inf")

    def as_dict(self) -> dict | None:
        if self.empty:
            return None
        return {"min": [round(v, 3) for v in self.min], "max": [round(v, 3) for v in self.max]}


@dataclass
class GcodeReport:
    format: str
    metadata: dict
    forbidden: list[tuple[int, str]]  # (line number, command)
    warnings: list[str]
    thumbnail: Choice = field(default_factory=lambda: Choice(None))  # the picture to keep (jobs.thumbnails)


class _Scanner:
    """Follows the machine state through the moves; fed one line at a time."""

    def __init__(self, forbidden_commands: frozenset[str]):
        self.forbidden_commands = forbidden_commands
        self.forbidden: list[tuple[int, str]] = []
        self.header: dict[str, str] = {}
        self.slicer: dict | None = None
        self.line_no = 0
        self.commands = 0
        self.checked_lines = 0
        self.pos: list[float | None] = [None, None, None]
        self.e = 0.0
        self.relative = False
        self.relative_e = False
        self.print_bounds = Bounds()
        self.move_bounds = Bounds()
        self.nozzle_temps: list[float] = []
        self.bed_temps: list[float] = []
        self.thumbnails: list[Candidate] = []

    def feed(self, raw: bytes, *, check: bool) -> None:
        self.line_no += 1
        line = raw.strip()
        if not line:
            return
        if check and self.checked_lines < _CHECK_FIRST_LINES:
            self.checked_lines += 1
            if b"\x00" in line:
                raise NotGcode(f"line {self.line_no} contains binary data")
            if not (line[:1] in (b";", b"(", b"%") or _CODE_LINE.match(line)):
                raise NotGcode(f"line {self.line_no} is not G-code: {line[:40].decode('latin-1')!r}")
        if line[:1] == b";":
            self._comment(line.decode("utf-8", "replace"))
            return
        code = line.split(b";", 1)[0].split(b"*", 1)[0].strip()
        if code[:1] in (b"N", b"n"):  # line numbers from hosts that add them
            code = code.split(None, 1)[1] if b" " in code else b""
        match = _COMMAND.match(code)
        if not match:
            return
        self.commands += 1
        letter = match.group(1).upper().decode()
        command = f"{letter}{int(match.group(2))}" + (f".{match.group(3)}" if match.group(3) else "")
        if command in self.forbidden_commands:
            self.forbidden.append((self.line_no, command))
        if letter == "G":
            self._g(command, code[match.end() :])
        elif letter == "M":
            self._m(command, code[match.end() :])

    def _words(self, rest: bytes) -> dict[str, float]:
        return {k.upper().decode(): float(v) for k, v in _WORD.findall(rest)}

    def _g(self, command: str, rest: bytes) -> None:
        if command in ("G0", "G1", "G2", "G3"):
            words = self._words(rest)
            start = list(self.pos)
            for i, axis in enumerate("XYZ"):
                if axis in words:
                    base = self.pos[i] if (self.relative and self.pos[i] is not None) else 0.0
                    self.pos[i] = base + words[axis] if self.relative else words[axis]
            extruding = False
            if "E" in words:
                if self.relative_e or self.relative:
                    extruding = words["E"] > 0
                    self.e += words["E"]
                else:
                    extruding = words["E"] > self.e
                    self.e = words["E"]
            if None in self.pos:
                return
            x, y, z = self.pos
            self.move_bounds.add(x, y, z)
            if extruding:
                if None not in start:
                    self.print_bounds.add(*start)
                self.print_bounds.add(x, y, z)
        elif command == "G90":
            self.relative = False
        elif command == "G91":
            self.relative = True
        elif command == "G92":
            words = self._words(rest)
            for i, axis in enumerate("XYZ"):
                if axis in words:
                    self.pos[i] = words[axis]
            if "E" in words:
                self.e = words["E"]
        elif command == "G28":
            words = self._words(rest)
            axes = [a for a in "XYZ" if a in words] or list("XYZ")
            for axis in axes:
                self.pos["XYZ".index(axis)] = 0.0

    def _m(self, command: str, rest: bytes) -> None:
        if command == "M82":
            self.relative_e = False
        elif command == "M83":
            self.relative_e = True
        elif command in ("M104", "M109", "M140", "M190"):
            words = self._words(rest)
            value = words.get("S", words.get("R"))
            if value is not None and value > 0:
                (self.nozzle_temps if command in ("M104", "M109") else self.bed_temps).append(value)

    def _comment(self, text: str) -> None:
        if self.slicer is None:
            generated = _GENERATED.match(text)
            if generated:
                self.slicer = {"name": generated.group(1), "version": generated.group(2) or ""}
                return
        match = _HEADER.match(text)
        if match:
            key = match.group(1).strip().lower()
            if (key in _HEADER_KEYS or _GRIFFIN_VOLUME.match(key)) and key not in self.header:
                self.header[key] = match.group(2)[:500]

    def metadata(self, file_format: str) -> dict:
        h = self.header
        materials = _split(h.get("filament_type") or h.get("material") or "")
        lengths = [_float(v) for v in _split(h.get("filament used [mm]", ""))]
        weights = [_float(v) for v in _split(h.get("filament used [g]", ""))]
        if not lengths and h.get("filament used"):  # Cura: "1.234m"
            lengths = [
                _float(v.rstrip("m")) * 1000 if v.endswith("m") else _float(v)
                for v in _split(h["filament used"])
            ]
        filament: dict[str, dict] = {}
        for i in range(max(len(lengths), len(weights))):
            length = lengths[i] if i < len(lengths) else None
            weight = weights[i] if i < len(weights) else None
            if not length and not weight:
                continue
            material = materials[i] if i < len(materials) else (materials[0] if materials else "unknown")
            entry = filament.setdefault(material, {"length_mm": 0.0, "weight_g": 0.0})
            entry["length_mm"] = round(entry["length_mm"] + (length or 0.0), 2)
            entry["weight_g"] = round(entry["weight_g"] + (weight or 0.0), 2)
        nozzle = _split(h.get("nozzle_diameter") or h.get("extruder_train.0.nozzle.diameter") or "")
        estimate = None
        if "time" in h:
            estimate = _int(h["time"])
        else:
            for key in (
                "estimated printing time (normal mode)",
                "estimated printing time",
                "model printing time",
            ):
                if key in h:
                    estimate = _duration(h[key])
                    break
        bounds = self.print_bounds if not self.print_bounds.empty else self.move_bounds
        tools, garbled = _filament_tools(h, materials)
        return {
            "format": file_format,
            "slicer": self.slicer,
            "flavor": h.get("flavor", ""),
            "printer_model": h.get("printer_model", ""),
            "estimated_time_s": estimate,
            "filament": filament,
            "materials": sorted(filament) or materials,
            # Per tool, as the slicer wrote it (any of length, weight, volume may be missing); the
            # pre-flight turns this into grams (jobs.filament).
            "filament_tools": tools,
            "filament_garbled": garbled,
            "nozzle_diameter": _float(nozzle[0]) if nozzle else None,
            "temperatures": {
                "first_layer_nozzle": self.nozzle_temps[0] if self.nozzle_temps else None,
                "max_nozzle": max(self.nozzle_temps) if self.nozzle_temps else None,
                "first_layer_bed": self.bed_temps[0] if self.bed_temps else None,
                "max_bed": max(self.bed_temps) if self.bed_temps else None,
            },
            "bounds": bounds.as_dict(),
            "lines": self.line_no,
            "commands": self.commands,
        }


def _numbers(value: str, *, unit_suffix: str = "") -> tuple[list[float | None], bool]:
    """Comma/semicolon-separated numbers; an unreadable or negative part is None and flags the list."""
    result: list[float | None] = []
    garbled = False
    for part in _split(value):
        text = part.strip()
        scale = 1.0
        if unit_suffix and text.lower().endswith(unit_suffix):
            text, scale = text[: -len(unit_suffix)].strip(), 1000.0  # Cura writes metres: "1.234m"
        try:
            number = float(text) * scale
        except ValueError:
            result.append(None)
            garbled = True
            continue
        if number < 0 or number != number or number in (float("inf"), float("-inf")):
            result.append(None)
            garbled = True
        else:
            result.append(number)
    return result, garbled


def _filament_tools(h: dict[str, str], materials: list[str]) -> tuple[list[dict], bool]:
    """Filament per tool from PrusaSlicer/OrcaSlicer ("filament used [mm]/[g]", lists per extruder),
    Bambu Studio ("total filament length [mm]"/"weight [g]" for a single filament), Cura
    (";Filament used: 1.2m, 0.3m") and Cura Griffin (EXTRUDER_TRAIN.n.MATERIAL.VOLUME_USED, mm³)."""
    lengths, bad_l = _numbers(h.get("filament used [mm]", ""))
    weights, bad_w = _numbers(h.get("filament used [g]", ""))
    volumes, bad_v = _numbers(h.get("filament used [cm3]", ""))
    volumes = [v * 1000 if v is not None else None for v in volumes]  # cm³ → mm³
    garbled = bad_l or bad_w or bad_v
    if not lengths and h.get("total filament length [mm]"):
        lengths, bad = _numbers(h["total filament length [mm]"])
        garbled = garbled or bad
    if not weights and h.get("total filament weight [g]"):
        weights, bad = _numbers(h["total filament weight [g]"])
        garbled = garbled or bad
    if not lengths and h.get("filament used"):
        lengths, bad = _numbers(h["filament used"], unit_suffix="m")
        garbled = garbled or bad
    griffin = sorted((int(m.group(1)), key) for key in h if (m := _GRIFFIN_VOLUME.match(key)))
    if griffin and not volumes:
        by_tool: dict[int, float | None] = {}
        for index, key in griffin:
            values, bad = _numbers(h[key])
            garbled = garbled or bad
            by_tool[index] = values[0] if values else None
        volumes = [by_tool.get(i) for i in range(max(by_tool) + 1)]
    densities, _ = _numbers(h.get("filament_density", ""))
    diameters, _ = _numbers(h.get("filament_diameter", ""))
    count = max(len(lengths), len(weights), len(volumes))
    tools = []
    for i in range(count):
        length = lengths[i] if i < len(lengths) else None
        weight = weights[i] if i < len(weights) else None
        volume = volumes[i] if i < len(volumes) else None
        if not (length or weight or volume):
            continue  # an extruder the print does not use (0) or could not be read
        tools.append(
            {
                "tool": i,
                "material": materials[i]
                if i < len(materials)
                else (materials[0] if len(materials) == 1 else ""),
                "length_mm": length,
                "weight_g": weight,
                "volume_mm3": volume,
                "density": densities[i]
                if i < len(densities)
                else (densities[0] if len(densities) == 1 else None),
                "diameter": diameters[i]
                if i < len(diameters)
                else (diameters[0] if len(diameters) == 1 else None),
            }
        )
    return tools, garbled


def file_format_for(name: str) -> str | None:
    return EXTENSIONS.get(PurePath(name).suffix.lower())


def inspect_gcode(stream: BinaryIO, *, original_name: str, forbidden_commands: frozenset[str]) -> GcodeReport:
    """Check the content matches the extension and read the metadata. Raises NotGcode."""
    file_format = file_format_for(original_name)
    if file_format is None:
        raise NotGcode(
            f"{original_name!r} has an extension that is not G-code ({', '.join(sorted(EXTENSIONS))})"
        )
    stream.seek(0)
    scanner = _Scanner(frozenset(c.upper() for c in forbidden_commands))
    warnings: list[str] = []
    if file_format == "gcode":
        head = stream.read(4)
        if head == BGCODE_MAGIC:
            raise NotGcode("the file is binary G-code (.bgcode) but is named as text G-code")
        stream.seek(0)
        for raw in stream:
            scanner.feed(raw, check=True)
        if scanner.commands == 0:
            raise NotGcode("the file contains no G-code commands")
        scanner.thumbnails = text_candidates(stream)
    else:
        warnings = _scan_bgcode(stream, scanner)
    metadata = scanner.metadata(file_format)
    thumbnail = choose(scanner.thumbnails)
    if thumbnail.thumbnail is not None:
        metadata["thumbnail"] = thumbnail.thumbnail.describe()
    elif thumbnail.note:
        metadata["thumbnail"] = {"note": thumbnail.note}
    return GcodeReport(file_format, metadata, scanner.forbidden, warnings, thumbnail)


# Binary G-code (libbgcode): file header, then blocks of header + parameters + data + optional CRC32.
_BLOCK_NAMES = {
    0: "file metadata",
    1: "gcode",
    2: "slicer metadata",
    3: "printer metadata",
    4: "print metadata",
    5: "thumbnail",
}


def _scan_bgcode(stream: BinaryIO, scanner: _Scanner) -> list[str]:
    header = stream.read(10)
    if len(header) < 10 or header[:4] != BGCODE_MAGIC:
        raise NotGcode("the file is named .bgcode but does not start with the binary G-code magic 'GCDE'")
    _version, checksum_type = struct.unpack("<IH", header[4:])
    crc_size = 4 if checksum_type == 1 else 0
    unscanned = 0
    blocks = 0
    while True:
        block_header = stream.read(8)
        if not block_header:
            break
        if len(block_header) < 8:
            raise NotGcode("the binary G-code ends inside a block header")
        block_type, compression, size = struct.unpack("<HHI", block_header)
        compressed = size
        if compression:
            raw = stream.read(4)
            if len(raw) < 4:
                raise NotGcode("the binary G-code ends inside a block header")
            (compressed,) = struct.unpack("<I", raw)
        if block_type not in _BLOCK_NAMES or compression > 3:
            raise NotGcode(
                f"block {blocks} of the binary G-code has unknown type {block_type} or compression"
            )
        params = stream.read(6 if block_type == 5 else 2)
        encoding = struct.unpack("<H", params[:2])[0] if len(params) >= 2 else 0
        if compressed > 512 * 1024 * 1024:
            raise NotGcode(f"block {blocks} of the binary G-code claims an impossible size")
        data = stream.read(compressed)
        if len(data) < compressed or len(stream.read(crc_size)) < crc_size:
            raise NotGcode("the binary G-code is truncated")
        blocks += 1
        if block_type == 5:
            if compression == 0 and len(params) == 6:
                kind, width, height = struct.unpack("<HHH", params)
                if kind in BGCODE_FORMATS:
                    scanner.thumbnails.append(Candidate(BGCODE_FORMATS[kind], width, height, data))
            continue
        if compression not in (0, 1) or (block_type == 1 and encoding != 0):
            unscanned += block_type == 1
            continue
        try:
            text = zlib.decompress(data) if compression == 1 else data
        except zlib.error as exc:
            raise NotGcode(f"block {blocks - 1} of the binary G-code does not decompress: {exc}") from exc
        if block_type == 1:
            for raw in text.splitlines():
                scanner.feed(raw, check=False)
        else:
            for raw in text.splitlines():
                scanner._comment("; " + raw.decode("utf-8", "replace"))
    if blocks == 0:
        raise NotGcode("the binary G-code has no blocks")
    if unscanned:
        return [
            f"{unscanned} G-code block(s) use heatshrink or MeatPack encoding and were not scanned for "
            "forbidden commands or print bounds"
        ]
    return []


def _split(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def _int(value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:
        return None


def _duration(value: str) -> int | None:
    match = _DURATION.fullmatch(value.strip())
    if not match or not any(match.groups()):
        return None
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s
