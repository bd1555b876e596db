"""CPU per HTTP request of the ways a printer client can send a poll's request: prints figures.

One simulated OctoPrint (the printer simulator, in its own process, so its CPU is not counted), and
``GET /api/printer`` sent again and again on one keep-alive connection through:

- ``requests``: a ``requests.Session`` (what uploads, proxies and digest login use);
- ``urllib3``: a one-connection urllib3 pool (the poll's path until issue 18's third round);
- ``keepalive``: ``drivers.keepalive.KeepAliveConnection`` on ``http.client`` (the poll's path now).

Only this process's CPU (``time.process_time``) is counted; each way runs ``--requests`` times after
a warm-up, twice, interleaved.

    .venv/bin/python bench/http_bench.py
    .venv/bin/python bench/http_bench.py --requests 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from poll_cpu_bench import start_simulator

from drivers.keepalive import KeepAliveConnection

PATH = "/p/1/api/printer"
HEADERS = {"X-Api-Key": "sim-key-1", "User-Agent": "lab-mes printer client"}


def ways(url: str) -> dict[str, Callable[[], bytes]]:
    session = requests.Session()
    session.headers.update(HEADERS)
    pool = urllib3.connection_from_url(url, maxsize=1, retries=False)
    port = int(url.rsplit(":", 1)[1])
    keepalive = KeepAliveConnection("127.0.0.1", port)

    def via_requests() -> bytes:
        return session.get(f"{url}{PATH}", timeout=(3.05, 10)).content

    def via_urllib3() -> bytes:
        timeout = urllib3.Timeout(connect=3.05, read=10)
        return pool.urlopen("GET", PATH, headers=HEADERS, timeout=timeout, redirect=False, retries=False).data

    def via_keepalive() -> bytes:
        return keepalive.request(
            "GET", PATH, headers=HEADERS, body=None, connect_timeout=3.05, read_timeout=10
        )[1]

    return {"requests": via_requests, "urllib3": via_urllib3, "keepalive": via_keepalive}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per way and pass (3000)")
    args = parser.parse_args()
    process, url = start_simulator(1)
    try:
        results: dict[str, list[float]] = {}
        for _ in range(2):
            for name, send in ways(url).items():
                for _ in range(50):
                    send()
                began = time.process_time()
                for _ in range(args.requests):
                    send()
                results.setdefault(name, []).append((time.process_time() - began) / args.requests * 1e6)
        for name, figures in results.items():
            print(f"RESULT {name:<9} {min(figures):6.0f} µs CPU per request (passes: "
                  f"{', '.join(f'{f:.0f}' for f in figures)})")  # fmt: skip
    finally:
        process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
