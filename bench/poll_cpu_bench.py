"""CPU per poll of the poll path, in one process, against the real printer simulator: prints figures.

Only this process's CPU is counted (``time.process_time``: user + system of every thread here), so
the simulator, PostgreSQL and Redis, and whatever else shares the machine, stay out of the figure;
wall time is printed for context only. Set up like ``bench/run.py``: a throw-away PostgreSQL database,
a flushed Redis database as the cache, ``TASK_ENGINE=celery`` (tasks go to the broker; no worker
runs them), ``DEBUG=false``, the simulator in its own process with a mixed fleet (OctoPrint,
PrusaLink, Moonraker), a share of the printers printing (their progress moves on every poll, so
their polls run the reconciler).

Two modes:

- ``loop`` (default): every machine polled in turn through ``MachineRuntime.poll`` (I/O lock, driver,
  state write, signals), one thread, ``--rounds`` times after one warm-up round; CPU per poll is the
  whole poll path and nothing else.
- ``poller``: the real ``FleetPoller`` (leases, scheduling, a pool of ``--threads`` threads) for
  ``--seconds`` after ``--warmup`` seconds, at the machines' 2 s cadence: what one poller process
  spends per poll, thread switching included.

    .venv/bin/python bench/poll_cpu_bench.py --count 500
    .venv/bin/python bench/poll_cpu_bench.py --count 1000 --mode poller --seconds 20
    .venv/bin/python bench/poll_cpu_bench.py --count 300 --profile /tmp/poll.prof   # cProfile one round
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, Database, free_port

PYTHON = sys.executable


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500, help="simulated printers (default 500)")
    parser.add_argument("--mode", choices=["loop", "poller"], default="loop")
    parser.add_argument("--rounds", type=int, default=3, help="loop: timed rounds over the fleet (default 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="poller: measured seconds (default 20)")
    parser.add_argument("--warmup", type=float, default=8.0, help="poller: seconds before measuring")
    parser.add_argument("--threads", type=int, default=32, help="poller: poll threads (default 32)")
    parser.add_argument("--printing", type=float, default=0.33, help="share of printers printing (0.33)")
    parser.add_argument("--profile", default="", help="loop: cProfile one extra round into this file")
    parser.add_argument(
        "--no-hiredis", action="store_true", help="redis-py's own parser even when hiredis is installed"
    )
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="skip the gc.freeze() poll_machines does after start-up"
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4", help="flushed at start")
    return parser.parse_args()


def start_simulator(count: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "simulator", "--count", str(count), "--port", str(port), "--report-every", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/_sim", timeout=2).status_code == 200:
                return process, url
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the simulator did not start")


def start_prints(url: str, count: int, share: float) -> int:
    """Start a long print on every n-th printer (by hand, as a person at the printer would)."""
    if share <= 0:
        return 0
    step = max(1, round(1 / share))
    started = 0
    for n in range(1, count + 1, step):
        requests.post(
            f"{url}/_sim/printers/{n}/manual-print", json={"duration": 7200}, timeout=5
        ).raise_for_status()
        started += 1
    return started


def configure(args: argparse.Namespace, database: Database, workdir: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mes.settings",
        MES_ENV_FILE="/dev/null",
        MES_VAR_DIR=str(workdir),
        MEDIA_ROOT=str(workdir / "media"),
        DATABASE_URL=database.url,
        REDIS_URL=args.redis_url,
        TASK_ENGINE="celery",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1",
        MES_PROCESS_ROLE="poller",
    )
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def register(count: int, sim_url: str) -> None:
    """The fleet as ``bench/install.py`` registers it (one registry kept for the whole batch)."""
    import machines.registry
    import machines.services
    from simulator.management.commands.simulate_fleet import register_fleet

    registry = machines.registry.get_registry()
    with (
        mock.patch.object(machines.registry, "get_registry", lambda: registry),
        mock.patch.object(machines.services, "get_registry", lambda: registry),
    ):
        register_fleet(count=count, personality="mixed", base_url=sim_url)


def cpu_round(runtime, ids: list[str]) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, failed polls) of one poll of every machine, in turn."""
    failed = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with runtime.poller.lane_scope():  # as a lane of the poller polls machines back to back
        for machine_id in ids:
            if not runtime.poll(machine_id):
                failed += 1
    return time.process_time() - cpu0, time.perf_counter() - wall0, failed


def run_loop(args: argparse.Namespace, runtime) -> None:
    ids = sorted(m.id for m in runtime.registry.machines())
    runtime.on_acquire(ids)  # owns and initializes them all
    cpu, wall, failed = cpu_round(runtime, ids)  # warm-up: connections, first state writes
    print(f"warm-up round: {cpu * 1000 / len(ids):.3f} ms CPU per poll, {failed} failed")
    per_poll = []
    for n in range(1, args.rounds + 1):
        cpu, wall, failed = cpu_round(runtime, ids)
        per_poll.append(cpu * 1000 / len(ids))
        print(
            f"round {n}: {per_poll[-1]:.3f} ms CPU per poll ({cpu:.2f} s CPU, {wall:.2f} s wall, "
            f"{len(ids)} polls, {failed} failed)"
        )
    per_poll.sort()
    print(
        f"RESULT loop {len(ids)} printers: CPU per poll median {per_poll[len(per_poll) // 2]:.3f} ms "
        f"(min {per_poll[0]:.3f}, max {per_poll[-1]:.3f}) over {args.rounds} rounds"
    )
    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting on sockets
        profiler.enable()
        cpu_round(runtime, ids)
        profiler.disable()
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue())
        print(f"profile written to {args.profile}")


def run_poller(args: argparse.Namespace, runtime) -> None:
    thread = threading.Thread(target=runtime.run, name="poller", daemon=True)
    thread.start()
    count = args.count
    deadline = time.monotonic() + 180
    while len(runtime.poller.owned()) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    runtime.poller.wait_for_ownership()
    time.sleep(args.warmup)
    stats = runtime.poller.stats
    polls0, late0, failed0 = stats.polls, stats.late, stats.failures
    cpu0, wall0 = time.process_time(), time.perf_counter()
    lanes = []  # threads the rounds needed, sampled
    while time.perf_counter() - wall0 < args.seconds:
        time.sleep(0.25)
        lanes.append(stats.lanes)
    lanes.sort()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    polls, late, failed = stats.polls - polls0, stats.late - late0, stats.failures - failed0
    runtime.stop()
    thread.join(30)
    print(
        f"RESULT poller {count} printers, {args.threads} threads: {polls / wall:.1f} polls/s "
        f"(target {count / 2:.0f}), CPU per poll {cpu * 1000 / max(polls, 1):.3f} ms, "
        f"{cpu / wall:.2f} cores, late {100 * late / max(polls, 1):.1f} %, {failed} failed; "
        f"lanes min {lanes[0]}, median {lanes[len(lanes) // 2]}, max {lanes[-1]}"
    )


def main() -> int:
    args = parse_args()
    if args.no_hiredis:
        sys.modules["hiredis"] = None  # redis-py then falls back to its pure-Python parser
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    workdir = Path(tempfile.mkdtemp(prefix="poll-cpu-bench-"))
    database = Database(args.database_url)
    simulator = None
    try:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        database.create()
        configure(args, database, workdir)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        simulator, sim_url = start_simulator(args.count)
        register(args.count, sim_url)
        printing = start_prints(sim_url, args.count, args.printing)
        import redis.utils

        print(
            f"{args.count} simulated printers ({printing} printing), load {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} cores; code in {ROOT}; hiredis {redis.utils.HIREDIS_AVAILABLE}"
        )
        from machines.runtime import MachineRuntime
        from mes.leases import default_lease_store, new_owner_id
        from mes.poller import PollerConfig

        runtime = MachineRuntime(
            owner=new_owner_id("poller"),
            store=default_lease_store(),
            config=PollerConfig(threads=args.threads),
        )
        runtime.registry.set_ownership(runtime.owns)
        frozen = "no"
        if not args.no_gc_freeze:
            try:
                from mes import gcfreeze
            except ImportError:  # a checkout from before issue 18
                frozen = "not available"
            else:
                frozen = str(gcfreeze.freeze_after_startup(load_urls=False))
        print(f"objects frozen after start-up: {frozen}")
        if args.mode == "loop":
            run_loop(args, runtime)
        else:
            run_poller(args, runtime)
        runtime.registry.shutdown()
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if simulator is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(simulator.pid, signal.SIGTERM)
            simulator.wait(10)
        from django.db import connections

        connections.close_all()
        with contextlib.suppress(Exception):
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
