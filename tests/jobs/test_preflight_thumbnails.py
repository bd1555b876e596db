"""Slicer thumbnails in the G-code header: found in the pre-flight, checked, the best one kept.

Real-format blocks (PrusaSlicer/OrcaSlicer/Bambu/Cura ``; thumbnail begin``, ``thumbnail_JPG``,
``thumbnail_QOI``, .bgcode thumbnail blocks) around tiny pictures made in the test."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from jobs.gcode import inspect_gcode
from jobs.thumbnails import MAX_BYTES, Candidate, choose, jpeg_size, png_size, validate
from tests.jobs.conftest import gcode
from tests.jobs.thumbnail_samples import block, tiny_jpeg, tiny_png, with_header


def inspect(content: bytes, name: str = "part.gcode"):
    return inspect_gcode(io.BytesIO(content), original_name=name, forbidden_commands=frozenset())


def test_prusaslicer_header_keeps_the_largest_png():
    content = with_header(
        gcode(),
        block(tiny_png(16, 16), 16, 16),
        block(tiny_png(220, 124), 220, 124),
        block(tiny_png(32, 32), 32, 32),
    )
    report = inspect(content)
    assert report.thumbnail.thumbnail.data == tiny_png(220, 124)
    assert report.metadata["thumbnail"] == {
        "format": "png",
        "width": 220,
        "height": 124,
        "bytes": len(tiny_png(220, 124)),
    }
    assert report.metadata["estimated_time_s"] is None or isinstance(report.metadata["estimated_time_s"], int)
    assert report.metadata["bounds"] is not None  # the rest of the scan is untouched


def test_orcaslicer_png_wins_over_a_larger_jpg_and_qoi():
    content = with_header(
        gcode(),
        "; THUMBNAIL_BLOCK_START\n",
        block(tiny_jpeg(300, 300), 300, 300, kind="JPG"),
        block(b"qoif" + struct.pack(">II", 300, 300) + b"\x03\x00" + b"\x00" * 20, 300, 300, kind="QOI"),
        block(tiny_png(48, 48), 48, 48),
        "; THUMBNAIL_BLOCK_END\n",
    )
    assert inspect(content).metadata["thumbnail"]["format"] == "png"


def test_jpg_only_header():
    report = inspect(with_header(gcode(), block(tiny_jpeg(160, 120), 160, 120, kind="JPG")))
    assert report.metadata["thumbnail"] == {
        "format": "jpg",
        "width": 160,
        "height": 120,
        "bytes": len(tiny_jpeg(160, 120)),
    }
    assert report.thumbnail.thumbnail.content_type == "image/jpeg"


def test_qoi_only_is_skipped_with_a_note():
    qoi = b"qoif" + struct.pack(">II", 4, 3) + b"\x03\x00" + b"\x00" * 7 + b"\x01"
    report = inspect(with_header(gcode(), block(qoi, 4, 3, kind="QOI")))
    assert report.thumbnail.thumbnail is None
    assert report.metadata["thumbnail"] == {
        "note": "the file's thumbnails are QOI only, which Lab MES does not decode"
    }


def test_cura_header():
    body = (
        b";FLAVOR:Marlin\n;TIME:1234\n;Filament used: 1.5m\n;Layer height: 0.2\n"
        + block(tiny_png(300, 300), 300, 300).encode()
        + b";Generated with Cura_SteamEngine 5.6.0\nM140 S60\nG28\nG1 X10 Y10 Z0.2\nG1 X60 Y10 E5\n"
    )
    assert inspect(body).metadata["thumbnail"]["width"] == 300


def test_bambu_header_with_its_header_block_first():
    body = (
        b"; HEADER_BLOCK_START\n; BambuStudio 01.09.00.70\n; model printing time: 12m 3s\n; HEADER_BLOCK_END\n\n"
        b"; THUMBNAIL_BLOCK_START\n"
        + block(tiny_png(512, 512), 512, 512).encode()
        + b"; THUMBNAIL_BLOCK_END\n\nM140 S60\nG28\nG1 X10 Y10 Z0.2\nG1 X60 Y10 E5\n"
    )
    report = inspect(body)
    assert report.metadata["thumbnail"]["width"] == 512 and report.metadata["estimated_time_s"] == 723


def test_a_file_without_thumbnails_has_none_and_no_note():
    report = inspect(gcode())
    assert report.thumbnail.thumbnail is None and "thumbnail" not in report.metadata


def test_blocks_after_the_first_command_are_not_read():
    report = inspect(gcode() + block(tiny_png(), 4, 3).encode())
    assert report.thumbnail.thumbnail is None


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            "; thumbnail begin 4x3 20\n; iVBORw0KGgo%%%%notbase64\n; thumbnail end\n", id="not-base64"
        ),
        pytest.param("; thumbnail begin 4x3 12\n; aGVsbG8gd29ybGQ=\n; thumbnail end\n", id="not-a-png"),
        pytest.param(block(tiny_png(4, 3), 40, 30), id="dimensions-disagree"),
        pytest.param(block(tiny_png(4000, 1), 4000, 1), id="absurd-width"),
        pytest.param(block(tiny_png(4, 3)[:-30], 4, 3)[:-20] + "\n", id="truncated-and-unterminated"),
        pytest.param("; thumbnail begin 4x3 9\n; iVBORw0K=\n; thumbnail end\n", id="bad-padding"),
        pytest.param(block(tiny_jpeg(4, 3)[:4], 4, 3, kind="JPG"), id="jpeg-without-frame"),
    ],
)
def test_a_garbled_block_is_ignored_and_the_file_still_passes(bad):
    report = inspect(with_header(gcode(), bad))
    assert report.thumbnail.thumbnail is None
    assert report.metadata["thumbnail"]["note"].startswith("the file's thumbnail could not be read")
    assert report.metadata["commands"] > 0


def test_a_garbled_block_does_not_hide_a_good_one():
    content = with_header(gcode(), "; thumbnail begin 4x3 20\n; ###\n", block(tiny_png(8, 8), 8, 8))
    assert inspect(content).metadata["thumbnail"]["width"] == 8


def test_an_oversized_picture_is_skipped():
    big = tiny_png(8, 8)
    big = big[:-12] + struct.pack(">I", MAX_BYTES) + b"tEXt" + b"x" * MAX_BYTES + b"\0\0\0\0" + big[-12:]
    assert validate(Candidate("png", 8, 8, big)) is None
    assert inspect(with_header(gcode(), block(big, 8, 8))).thumbnail.thumbnail is None


def test_picture_headers():
    assert png_size(tiny_png(7, 5)) == (7, 5) and png_size(b"GIF89a" + b"\0" * 30) is None
    assert jpeg_size(tiny_jpeg(33, 21)) == (33, 21) and jpeg_size(tiny_png()) is None
    assert choose([]).thumbnail is None and choose([]).note == ""


def _bgcode_with_thumbnails(*thumbs: tuple[int, int, int, bytes]) -> bytes:
    def block_bytes(block_type: int, payload: bytes, params: bytes, compression: int = 0) -> bytes:
        data = zlib.compress(payload) if compression else payload
        header = struct.pack("<HHI", block_type, compression, len(payload))
        if compression:
            header += struct.pack("<I", len(data))
        body = header + params + data
        return body + struct.pack("<I", zlib.crc32(body))

    content = b"GCDE" + struct.pack("<IH", 1, 1)
    content += block_bytes(3, b"printer_model=MK4\n", b"\0\0")
    for kind, width, height, data in thumbs:
        content += block_bytes(5, data, struct.pack("<HHH", kind, width, height))
    return content + block_bytes(1, b"G28\nG1 X10 Y10 Z0.2\nG1 X60 Y10 E5\n", b"\0\0", compression=1)


def test_bgcode_thumbnail_blocks():
    content = _bgcode_with_thumbnails(
        (0, 16, 16, tiny_png(16, 16)), (2, 300, 300, b"qoif..."), (0, 64, 48, tiny_png(64, 48))
    )
    report = inspect(content, "part.bgcode")
    assert report.metadata["thumbnail"] == {
        "format": "png",
        "width": 64,
        "height": 48,
        "bytes": len(tiny_png(64, 48)),
    }
