"""CPU cost of the printer simulator: N printers polled at a fixed total rate.

Starts ``python -m simulator`` as its own process, polls every printer's status
endpoint (each personality's own) round-robin at ``--rate`` requests/s for ``--seconds``, and prints
the simulator process's CPU use from /proc (user + system time over the window).

    .venv/bin/python bench/simulator_load.py --count 1000 --rate 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
POLL = {
    "octoprint": ["/api/job", "/api/printer"],
    "prusalink": ["/api/v1/status"],
    "moonraker": ["/printer/objects/query?webhooks&print_stats&virtual_sdcard&extruder&heater_bed"],
}
ORDER = ("octoprint", "prusalink", "moonraker")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


async def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/_sim") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("simulator did not start")


async def start_some_prints(url: str, count: int) -> None:
    """A third of the fleet printing, so state advancement is part of the cost."""
    async with aiohttp.ClientSession() as session:
        for n in range(1, count + 1, 3):
            await session.post(f"{url}/_sim/printers/{n}/manual-print", json={"duration": 3600})


async def load(url: str, count: int, rate: float, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    sent = 0
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(n: int) -> None:
            nonlocal errors
            personality = ORDER[(n - 1) % 3]
            paths = POLL[personality]
            path = paths[(n // 3) % len(paths)]
            began = time.perf_counter()
            try:
                async with session.get(
                    f"{url}/p/{n}{path}", headers={"X-Api-Key": f"sim-key-{n}"}
                ) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - began)

        tasks: set[asyncio.Task] = set()
        start = time.monotonic()
        tick = 0.02
        per_tick = rate * tick
        owed = 0.0
        printer = 0
        while (elapsed := time.monotonic() - start) < seconds:
            owed += per_tick
            while owed >= 1:
                owed -= 1
                printer = printer % count + 1
                task = asyncio.create_task(one(printer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(max(0.0, start + (elapsed // tick + 1) * tick - time.monotonic()))
        await asyncio.gather(*tasks)
    return {"sent": sent, "errors": errors, "latencies": latencies}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0, help="total requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--personality", default="mixed")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--count",
            str(args.count),
            "--personality",
            args.personality,
            "--port",
            str(port),
            "--report-every",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_ready(url))
        asyncio.run(start_some_prints(url, args.count))
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        result = asyncio.run(load(url, args.count, args.rate, args.seconds))
        cpu_used, wall = cpu_seconds(process.pid) - cpu_before, time.monotonic() - wall_before
        rss_kib = next(
            int(line.split()[1])
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    lat = sorted(result["latencies"])
    print(
        f"simulator: {args.count} printers ({args.personality}), target {args.rate:g} req/s for {args.seconds:g} s"
    )
    print(
        f"requests:  {result['sent']} sent, {result['sent'] / wall:.0f} req/s achieved, {result['errors']} errors"
    )
    if lat:
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"latency:   p50 {statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"memory:    {rss_kib / 1024:.0f} MiB resident")
    print(f"CPU:       {cpu_used:.2f} s over {wall:.1f} s = {100 * cpu_used / wall:.1f}% of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
