"""Drivers stream a large file to the printer in chunks: the client never holds the whole file.

The simulator runs as its own process here, not as the in-process ``ThreadedSimulator``: tracemalloc
sees every thread of the test process, so a simulator thread's buffering would count too. With the
printer in another process, the peak measured around ``upload()`` is the client's alone.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drivers.conftest import CLIENT_CLASSES, PERSONALITY_ORDER, GcodeFile
from tests.memory import peak_python_memory

ROOT = Path(__file__).resolve().parents[2]
FILE_SIZE = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def simulator_process() -> Iterator[str]:
    """``python -m simulator`` with one printer per personality; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "simulator",
            "--count",
            str(len(PERSONALITY_ORDER)),
            "--personality",
            "mixed",
            "--port",
            "0",
            "--report-every",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        match = re.search(r" on (http://\S+)", first_line)
        assert match, f"the simulator did not start: {first_line!r}{process.stdout.read()}"
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()


@pytest.fixture(scope="module")
def big_gcode(tmp_path_factory) -> GcodeFile:
    """About 30 MiB of G1 moves, written and hashed block by block (the test never holds it whole)."""
    path = tmp_path_factory.mktemp("big") / "big-part.gcode"
    block = "".join(f"G1 X{20 + i % 50}.{i % 10} Y{20 + (i * 7) % 50}.5 E0.0412\n" for i in range(4000))
    block_bytes = block.encode()
    header = b"; Lab MES streaming test part\nG90\nM83\n"
    hasher = hashlib.sha256(header)
    with path.open("wb") as out:
        out.write(header)
        for _ in range(FILE_SIZE // len(block_bytes)):
            out.write(block_bytes)
            hasher.update(block_bytes)
    return GcodeFile(path=path, name=path.name, sha256=hasher.hexdigest())


@pytest.mark.parametrize("personality", PERSONALITY_ORDER)
def test_a_large_upload_streams_from_disk(simulator_process, big_gcode, personality):
    index = PERSONALITY_ORDER.index(personality) + 1  # "mixed" cycles the personalities in this order
    size = big_gcode.path.stat().st_size
    name = f"big-{personality}.gcode"
    with CLIENT_CLASSES[personality](
        f"{simulator_process}/p/{index}", api_key=f"sim-key-{index}", connect_timeout=5, read_timeout=30
    ) as client:
        with peak_python_memory() as memory:
            remote = client.upload(big_gcode.path, name, big_gcode.sha256)

        assert (remote.name, remote.size, remote.sha256) == (name, size, big_gcode.sha256)
        on_printer = client.file_info(name)
        assert on_printer is not None and on_printer.size == size

    peak = memory["peak"]
    print(f"\n{personality} upload of {size / 2**20:.1f} MiB: client peak {peak / 2**20:.2f} MiB")
    assert peak < size / 5, (
        f"the {personality} client allocated up to {peak / 2**20:.1f} MiB to upload "
        f"{size / 2**20:.1f} MiB: it holds the file in memory"
    )
