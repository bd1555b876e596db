"""Serve a simulated fleet from the command line (``python -m simulator``).

``manage.py simulate_fleet`` uses the same ``serve()``; this entry needs no Django, so benchmarks
can run the simulator as a bare subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable

from .server import CHOICES, SimulatorHandle, start_simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=10, help="number of printers (default 10)")
    parser.add_argument("--personality", choices=CHOICES, default="mixed", help="API the printers speak")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument(
        "--report-every", type=float, default=10.0, help="seconds between progress lines (0: none)"
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0: run until Ctrl-C)"
    )


def check_arguments(count: int, speed: float, port: int) -> str | None:
    if count < 1:
        return "--count must be at least 1"
    if speed <= 0:
        return "--speed must be positive"
    if not 0 <= port <= 65535:
        return "--port must be between 0 and 65535"
    return None


def progress_line(handle: SimulatorHandle) -> str:
    summary = handle.fleet.summary()
    phases = ", ".join(f"{k} {v}" for k, v in sorted(summary["phases"].items()))
    return (
        f"{time.strftime('%H:%M:%S')} printers: {phases} | prints started {summary['prints_started']}"
        f" (by hand {summary['manual_prints_started']}) | requests {summary['requests']}"
    )


async def serve(
    *,
    count: int,
    personality: str,
    host: str,
    port: int,
    speed: float,
    report_every: float = 10.0,
    duration: float = 0.0,
    out: Callable[[str], None] = print,
    on_ready: Callable[[SimulatorHandle], None] | None = None,
) -> None:
    handle = await start_simulator(count, personality, host, port, speed)
    out(f"Simulating {count} {personality} printer(s) at speed x{speed:g} on {handle.url}")
    out(f"  printer n: {handle.url}/p/<n>  (n = 1..{count}), API key sim-key-<n>")
    out(f"  e.g. {handle.printer_url(1)}  key sim-key-1  ({handle.fleet.get(1).personality})")
    out(f"  control: {handle.url}/_sim  (faults: POST {handle.url}/_sim/printers/<n>/faults)")
    if on_ready is not None:
        on_ready(handle)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    began = time.monotonic()
    try:
        while not stop.is_set():
            wait = report_every if report_every > 0 else 3600
            if duration > 0:
                wait = min(wait, max(0.0, duration - (time.monotonic() - began)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if duration > 0 and time.monotonic() - began >= duration:
                break
            if report_every > 0 and not stop.is_set():
                out(progress_line(handle))
    finally:
        await handle.stop()
        out("Simulator stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    problem = check_arguments(args.count, args.speed, args.port)
    if problem:
        parser.error(problem)
    asyncio.run(
        serve(
            count=args.count,
            personality=args.personality,
            host=args.host,
            port=args.port,
            speed=args.speed,
            report_every=args.report_every,
            duration=args.duration,
            out=lambda line: print(line, flush=True),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
