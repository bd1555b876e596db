"""Write the example prints ``make run`` puts in the queue (``jobs.demo``): small PrusaSlicer-style
G-code files whose header carries a real PNG thumbnail, drawn here (no image library needed).

    .venv/bin/python examples/demo-prints/make_demo_prints.py    # rewrites the .gcode files beside it

Each part is a few flat-shaded polygons in a 160 x 120 picture. The estimated printing times are real
minutes: the simulated printers of ``make run`` (speed 1) take exactly that long, so progress moves
within a minute and the prints end one after another.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 160, 120
BACKGROUND = (0, 0, 0, 0)

# name: (title, material, minutes, grams, nozzle °C, bed °C, height mm, colour, shape)
PRINTS = {
    "calibration-cube": ("Calibration cube", "PLA", 7, 9.8, 210, 60, 20, (220, 60, 50), "cube"),
    "phone-stand": ("Phone stand", "PLA", 12, 24.5, 210, 60, 62, (40, 120, 220), "stand"),
    "gear-set": ("Gear set", "PETG", 18, 31.0, 240, 80, 8, (240, 140, 30), "gear"),
    "cable-clips": ("Cable clips", "PLA", 26, 14.2, 210, 60, 6, (90, 180, 90), "clips"),
    "spool-holder": ("Spool holder", "PETG", 21, 28.0, 240, 80, 45, (120, 120, 130), "cube"),
    "lens-cap": ("Lens cap", "ASA", 16, 12.5, 255, 100, 12, (60, 60, 70), "gear"),
    "desk-organiser": ("Desk organiser", "PLA", 31, 48.0, 210, 60, 70, (170, 90, 200), "stand"),
    "bookmark": ("Bookmark", "PLA", 9, 4.1, 210, 60, 1, (230, 200, 40), "clips"),
    "vase": ("Spiral vase", "PLA", 15, 22.0, 210, 60, 120, (30, 170, 170), "vase"),
    "hinge": ("Print-in-place hinge", "PLA", 11, 7.5, 210, 60, 10, (200, 100, 60), "cube"),
}


def shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int, int]:
    return (*(max(0, min(255, int(c * factor))) for c in colour), 255)


def inside(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    x, y = point
    result = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            result = not result
    return result


def iso_box(x: float, y: float, w: float, d: float, h: float) -> list[tuple[list, float]]:
    """A box seen from above at an angle: top, left and right faces as (polygon, light)."""
    top = [(x, y), (x + w, y - w / 2), (x + w + d, y - w / 2 + d / 2), (x + d, y + d / 2)]
    left = [(x, y), (x + d, y + d / 2), (x + d, y + d / 2 + h), (x, y + h)]
    right = [(x + d, y + d / 2), (x + w + d, y - w / 2 + d / 2), (x + w + d, y - w / 2 + d / 2 + h),
             (x + d, y + d / 2 + h)]  # fmt: skip
    return [(left, 0.65), (right, 0.85), (top, 1.1)]


def gear(cx: float, cy: float, radius: float, teeth: int = 12) -> list[tuple[float, float]]:
    points = []
    for i in range(teeth * 4):
        angle = 2 * math.pi * i / (teeth * 4)
        r = radius if (i % 4) in (0, 1) else radius * 0.8
        points.append((cx + r * math.cos(angle), cy + r * 0.6 * math.sin(angle)))
    return points


def faces(shape: str) -> list[tuple[list, float]]:
    if shape == "cube":
        return iso_box(45, 50, 40, 40, 40)
    if shape == "stand":
        return [*iso_box(30, 75, 70, 30, 12), *iso_box(40, 40, 50, 8, 40)]
    if shape == "gear":
        big, small = gear(65, 65, 40), gear(118, 45, 24, teeth=8)
        return [
            ([(x, y + 8) for x, y in big], 0.6),
            (big, 1.0),
            ([(x, y + 6) for x, y in small], 0.6),
            (small, 1.0),
        ]
    if shape == "clips":
        return [f for i in range(3) for f in iso_box(25 + 38 * i, 60 + 6 * i, 22, 14, 10)]
    ring = [(80 + 30 * math.cos(a / 20 * math.pi), 100 + 9 * math.sin(a / 20 * math.pi)) for a in range(40)]
    body = [(50, 100), (45, 60), (55, 25), (105, 25), (115, 60), (110, 100)]
    return [(body, 0.9), (ring, 0.7)]


def picture(colour: tuple[int, int, int], shape: str) -> bytes:
    """An RGBA PNG of the part, flat-shaded, on a transparent background."""
    pixels = [[BACKGROUND] * WIDTH for _ in range(HEIGHT)]
    for polygon, light in faces(shape):
        fill = shade(colour, light)
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        for y in range(max(0, int(min(ys))), min(HEIGHT, int(max(ys)) + 1)):
            for x in range(max(0, int(min(xs))), min(WIDTH, int(max(xs)) + 1)):
                if inside((x + 0.5, y + 0.5), polygon):
                    pixels[y][x] = fill
    raw = b"".join(b"\x00" + b"".join(bytes(p) for p in row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def gcode(name: str) -> str:
    title, material, minutes, grams, nozzle, bed, height, colour, shape = PRINTS[name]
    encoded = base64.b64encode(picture(colour, shape)).decode()
    lines = ["; generated by PrusaSlicer 2.7.1+linux-x64-GTK3 on 2026-11-30 at 10:12:44 UTC", ";"]
    lines.append(f"; thumbnail begin {WIDTH}x{HEIGHT} {len(encoded)}")
    lines += [f"; {encoded[i : i + 78]}" for i in range(0, len(encoded), 78)]
    lines += ["; thumbnail end", ";", f"; {title}: an example print of Lab MES's make run", ""]
    lines += [
        f"M140 S{bed}",
        f"M104 S{nozzle}",
        "G28 ; home all axes",
        f"M190 S{bed}",
        f"M109 S{nozzle}",
        "G90",
        "M83",
        "G1 Z0.2 F3000",
    ]
    for layer in range(1, 6):  # a few perimeters stand in for the real thing
        z = min(height, 0.2 * layer)
        lines += [f"G1 Z{z:.2f} F3000", "G1 X60 Y60 F6000", "G1 X140 Y60 E3.2 F1800", "G1 X140 Y140 E3.2",
                  "G1 X60 Y140 E3.2", "G1 X60 Y60 E3.2"]  # fmt: skip
    lines += [f"G1 Z{height:.2f} F600", "M104 S0", "M140 S0", "M84", ""]
    length_mm = grams / (1.24 * math.pi * 0.875**2) * 1000
    lines += [
        f"; filament used [mm] = {length_mm:.2f}",
        f"; filament used [g] = {grams:.2f}",
        f"; estimated printing time (normal mode) = {minutes}m 0s",
        f"; filament_type = {material}",
        "; nozzle_diameter = 0.4",
        f"; max_layer_z = {height:.2f}",
        f"; temperature = {nozzle}",
        f"; bed_temperature = {bed}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    for name in PRINTS:
        (HERE / f"{name}.gcode").write_text(gcode(name))
        print(f"wrote {name}.gcode")


if __name__ == "__main__":
    main()
