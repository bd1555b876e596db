"""The fleet benchmark (``make bench``): N simulated printers polled by a production-like Lab MES.

Starts the printer simulator, a throw-away installation, registers the simulated printers as machines,
and runs the Lab MES processes as ``manage.py up`` would, each with its ``MES_PROCESS_ROLE``, in one
of two configurations (``--engine``):

- ``celery`` (the default): a fresh PostgreSQL database, Redis db 1 flushed (cache, leases, broker),
  ``TASK_ENGINE=celery``; gunicorn web, ``--pollers`` pollers (default 2), Celery worker and beat;
- ``embedded``: the embedded default of ``make run``: a SQLite file in the work directory, no
  ``REDIS_URL`` (the database cache, leases in the database), ``TASK_ENGINE=django-q``; gunicorn web,
  one poller unless ``--pollers`` says otherwise, ``manage.py qcluster`` and ``manage.py mes_beat``.

Both run with ``DEBUG=false``, as a lab's installation would. After a warm-up it measures for
``--duration`` seconds:

- polls per second against the target (N / cadence), from the pollers' counters (``--stats-file``)
  and the simulator's request counter;
- the share of polls started on time (the poller counts a poll late when it starts more than half a
  cadence after it was due);
- staleness of the live state the API serves (now - ``last_seen``, p50/p99) and the p99 of
  ``GET /api/machines/?limit=N`` (every machine with its live state), sampled during the window;
- CPU milliseconds per poll of all Lab MES processes and their children (``/proc/<pid>/stat``; the
  simulator is excluded) and each process's peak memory (``VmHWM``);

then submits a batch of jobs through the API to idle printers and reports dispatch latency
(``queued`` → ``printing`` from the jobs' events). The table is printed and written to
``docs/benchmarks.md`` with the machine it ran on, in the section of its configuration (a run replaces
only its own configuration's section). Every process started is stopped at the end and the database
dropped, also on Ctrl-C or failure.

    .venv/bin/python bench/run.py                               # Celery etc., 1000 printers, 60 s
    .venv/bin/python bench/run.py --engine embedded             # the embedded default (SQLite, django-q)
    .venv/bin/python bench/run.py --printers 100 --duration 20  # a quick run (--printers is --count)
    make bench ARGS="--printers 2000"                           # 2000 printers, through make
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

# The helpers live next to this script; ``python bench/run.py`` puts this directory on sys.path by
# itself, this makes ``python -m bench.run`` and imports of ``bench.run`` find them too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import ApiSampler, measure_dispatch, poll_rate, read_poller_stats, sim_requests, totals
from procfs import TICKS, percentile
from report import document, render
from stack import ROOT, Database, Processes, SqliteDatabase, free_port, log, run_step, wait_for

PYTHON = sys.executable
DOC = ROOT / "docs" / "benchmarks.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--count",
        "--printers",
        dest="count",
        type=int,
        default=1000,
        help="simulated printers (default 1000)",
    )
    parser.add_argument(
        "--engine",
        choices=("celery", "embedded"),
        default="celery",
        help="celery: Celery + Redis + PostgreSQL (default); embedded: SQLite, database cache, django-q",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of polling before measuring")
    parser.add_argument(
        "--pollers",
        type=int,
        default=None,
        help="poller processes (default 2 with celery, 1 embedded as `up`)",
    )
    parser.add_argument("--threads", type=int, default=32, help="poll threads per poller (default 32)")
    parser.add_argument(
        "--lease-ttl",
        type=float,
        default=10.0,
        help="poll_machines --lease-ttl (default 10, the product's default)",
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--worker-concurrency", type=int, default=2, help="celery: worker pool processes (default 2)"
    )
    parser.add_argument("--cadence", type=float, default=2.0, help="the machines' poll cadence (default 2 s)")
    parser.add_argument("--jobs", type=int, default=50, help="jobs in the dispatch batch (0: skip)")
    parser.add_argument("--list-every", type=float, default=1.0, help="seconds between machine-list samples")
    parser.add_argument("--progress-every", type=float, default=5.0)
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="celery: the server the throw-away database is created on",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1", help="celery: flushed at start")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/ alone")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    args = parser.parse_args(argv)
    if args.pollers is None:
        args.pollers = 1 if args.engine == "embedded" else 2
    if args.count < 1 or args.duration <= 0 or args.pollers < 1:
        parser.error("--count, --duration and --pollers must be positive")
    if args.cadence != 2.0:
        parser.error("only the default 2 s cadence is supported (the machines' POLL_INTERVAL default)")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@dataclass
class Run:
    """What the phases of one run share; ``tear_down`` stops and removes all of it."""

    args: argparse.Namespace
    workdir: Path
    env: dict[str, str]
    database: Database | SqliteDatabase
    procs: Processes
    sampler: ApiSampler | None = None


def new_database(args: argparse.Namespace, workdir: Path) -> Database | SqliteDatabase:
    if args.engine == "embedded":
        return SqliteDatabase(workdir / "db.sqlite3")
    return Database(args.database_url)


def bench_env(args: argparse.Namespace, workdir: Path, database: Database | SqliteDatabase) -> dict[str, str]:
    """The environment of every Lab MES process: this one's, pointed at the throw-away installation.

    The embedded configuration sets no ``REDIS_URL``: that is what makes the cache, the live state
    and the leases live in the database, as on the embedded default.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE", "CELERY_BROKER_URL", "MES_PROCESS_ROLE"}
    }
    if args.engine == "celery":
        env.update(REDIS_URL=args.redis_url, TASK_ENGINE="celery")
    else:
        env.update(TASK_ENGINE="django-q")
    env.update(
        MES_ENV_FILE="/dev/null",
        MES_VAR_DIR=str(workdir / "var"),
        DATABASE_URL=database.url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Plain http on 127.0.0.1: no redirect to https (the production default without DEBUG).
        SECURE_SSL_REDIRECT="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def install(run: Run) -> tuple[str, str]:
    """Fresh database (and Redis with Celery), migrated; the simulator started and its printers registered.

    Returns the simulator's URL and an API token.
    """
    args, env, procs, database = run.args, run.env, run.procs, run.database
    log(f"workdir {run.workdir}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    database.create()
    if args.engine == "celery":
        redis.Redis.from_url(args.redis_url).flushdb()
        log(f"database {database.name} created, Redis {args.redis_url} flushed; migrating…")
    else:
        log(f"SQLite database {database.name}, no Redis; migrating…")
    run_step([PYTHON, "manage.py", "migrate", "--noinput"], env, timeout=600, what="migrate")

    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    procs.start(
        "simulator",
        [
            PYTHON,
            "-m",
            "simulator",
            "--count",
            str(args.count),
            "--port",
            str(sim_port),
            "--report-every",
            "0",
        ],
        lab_mes=False,
    )
    wait_for(lambda: sim_requests(sim_url) >= 0, timeout=60, what="the simulator", procs=procs)
    installed = json.loads(
        run_step(
            [PYTHON, "bench/install.py", "--count", str(args.count), "--sim-url", sim_url],
            {**env, "MES_PROCESS_ROLE": "standalone"},
            timeout=900,
            what="registering the fleet",
        ).strip().splitlines()[-1]
    )  # fmt: skip
    log(f"registered {installed['created']} machines in {installed['seconds']} s")
    return sim_url, installed["token"]


def start_lab_mes(run: Run) -> tuple[str, list[Path]]:
    """The Lab MES processes as ``manage.py up`` runs them; returns the web URL and the pollers' stats files."""
    args, procs, workdir = run.args, run.procs, run.workdir
    web_port = free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    procs.start(
        "web",
        [
            PYTHON,
            "-m",
            "gunicorn",
            "mes.wsgi:application",
            "--bind",
            f"127.0.0.1:{web_port}",
            "--workers",
            str(args.web_workers),
            "--threads",
            "4",
            "--graceful-timeout",
            "5",
        ],
        role="web",
    )
    if args.engine == "celery":
        procs.start(
            "worker",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "mes",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(args.worker_concurrency),
            ],
            role="worker",
        )
        procs.start(
            "beat",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "mes",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(workdir / "celerybeat-schedule"),
            ],
            role="beat",
        )
    else:
        # As mes/management/commands/up.py starts them on the embedded default (Q_WORKERS: 2 workers).
        procs.start("worker", [PYTHON, "manage.py", "qcluster"], role="worker")
        procs.start("beat", [PYTHON, "manage.py", "mes_beat"], role="beat")
    stats_files = []
    for n in range(1, args.pollers + 1):
        stats_file = workdir / f"poller-{n}.json"
        stats_files.append(stats_file)
        procs.start(
            f"poller-{n}",
            [
                PYTHON,
                "manage.py",
                "poll_machines",
                "--threads",
                str(args.threads),
                "--lease-ttl",
                str(args.lease_ttl),
                "--stats-every",
                "30",
                "--stats-file",
                str(stats_file),
            ],
            role="poller",
        )
    return base_url, stats_files


def warm_up(run: Run, base_url: str, stats_files: list[Path]) -> None:
    """Until the web server answers and the pollers own the whole fleet, then ``--warmup`` seconds more."""
    args, procs = run.args, run.procs
    wait_for(
        lambda: requests.get(f"{base_url}/api/health/", timeout=5).status_code < 500,
        timeout=120,
        what="the web server",
        procs=procs,
    )
    log("web server up; waiting until the pollers own every machine…")
    warm_began = time.monotonic()
    wait_for(
        lambda: (
            totals(read_poller_stats(stats_files))["owned"] >= args.count
            and len(read_poller_stats(stats_files)) == args.pollers
        ),
        timeout=180,
        what="the pollers to own the fleet",
        procs=procs,
    )
    while time.monotonic() - warm_began < args.warmup:
        procs.check_alive()
        time.sleep(0.5)
    shares = [s["owned"] for s in read_poller_stats(stats_files)]
    log(f"pollers own {sum(shares)} machines ({' + '.join(map(str, shares))}); measuring {args.duration:g} s")


def measure_window(run: Run, sim_url: str, base_url: str, token: str, stats_files: list[Path]) -> dict:
    """The measured ``--duration`` seconds, with a progress line every ``--progress-every`` seconds."""
    args, procs = run.args, run.procs
    procs.sample_memory()
    cpu0, t0 = procs.cpu_ticks(), time.monotonic()
    raw0 = read_poller_stats(stats_files)
    stats0, sim0 = totals(raw0), sim_requests(sim_url)
    sampler = run.sampler = ApiSampler(base_url, token, args.count, args.list_every)
    sampler.start()
    last_raw, last_polls, last_late = raw0, stats0["polls"], stats0["late"]
    while (elapsed := time.monotonic() - t0) < args.duration:
        time.sleep(min(args.progress_every, max(0.05, args.duration - elapsed)))
        procs.check_alive()
        procs.sample_memory()
        now_raw = read_poller_stats(stats_files)
        now_stats, now = totals(now_raw), time.monotonic()
        rate = poll_rate(last_raw, now_raw)
        polls_d = now_stats["polls"] - last_polls
        late_pct = 100 * (now_stats["late"] - last_late) / polls_d if polls_d else 0.0
        log(
            f"t+{now - t0:4.0f}s  {rate:7.1f} polls/s (target {args.count / args.cadence:.0f})  "
            f"late {late_pct:4.1f}%  failures {now_stats['failures']:.0f}  "
            f"list samples {len(sampler.latencies_ms)}  load {os.getloadavg()[0]:.2f}"
        )
        last_raw, last_polls, last_late = now_raw, now_stats["polls"], now_stats["late"]
    sampler.stop()
    t1 = time.monotonic()
    cpu1 = procs.cpu_ticks()
    raw1 = read_poller_stats(stats_files)
    stats1, sim1 = totals(raw1), sim_requests(sim_url)
    procs.sample_memory()
    load = os.getloadavg()
    window = t1 - t0

    polls = stats1["polls"] - stats0["polls"]
    late = stats1["late"] - stats0["late"]
    failures = stats1["failures"] - stats0["failures"]
    cpu_ms = {name: (cpu1.get(name, 0) - cpu0.get(name, 0)) * 1000 / TICKS for name in cpu1}
    return {
        "engine": args.engine,
        "count": args.count,
        "duration": window,
        "target_rate": args.count / args.cadence,
        "poll_rate": poll_rate(raw0, raw1),
        "sim_rate": (sim1 - sim0) / window,
        "on_time": 100 * (1 - late / polls) if polls else None,
        "failures": failures,
        "staleness_p50": percentile(sampler.staleness_s, 50),
        "staleness_p99": percentile(sampler.staleness_s, 99),
        "never_seen": sampler.never_seen,
        "list_p50": percentile(sampler.latencies_ms, 50),
        "list_p99": percentile(sampler.latencies_ms, 99),
        "list_samples": len(sampler.latencies_ms),
        "list_errors": sampler.errors,
        "cpu_ms": cpu_ms,
        "cpu_per_poll": sum(cpu_ms.values()) / polls if polls else None,
        "poller_cpu_per_poll": sum(v for k, v in cpu_ms.items() if k.startswith("poller")) / polls
        if polls
        else None,
        "cpu_share": sum(cpu_ms.values()) / 1000 / window,
        "load": load,
        "polls": polls,
        "pollers": args.pollers,
        "threads": args.threads,
        "lease_ttl": args.lease_ttl,
    }


def publish(run: Run, results: dict) -> None:
    """Peak memory into the results; the table printed and, unless ``--no-write``, written to docs/."""
    run.procs.sample_memory()
    results["memory"] = sorted(
        (label, pid, mb) for proc in run.procs.procs for pid, (label, mb) in proc.peak_mb.items()
    )
    table = render(results, run.args)
    print()
    print(table)
    if not run.args.no_write:
        previous = DOC.read_text() if DOC.is_file() else ""
        DOC.write_text(document(table, results, previous))
        log(f"written to {DOC.relative_to(ROOT)}")


def tear_down(run: Run, completed: bool) -> None:
    """Stop every process, drop the database; remove the logs unless the run failed or ``--keep-logs``."""
    if run.sampler is not None:
        run.sampler.stop()
    run.procs.stop_all()
    if not completed:
        for proc in run.procs.procs:
            if proc.tail():
                print(f"--- last lines of {proc.name} ---\n{proc.tail()}", file=sys.stderr)
    with contextlib.suppress(Exception):
        run.database.drop()
    workdir = run.workdir
    if run.args.keep_logs or not completed:
        log(f"logs kept in {workdir}")
    else:
        for path in sorted(workdir.rglob("*"), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()
        with contextlib.suppress(OSError):
            workdir.rmdir()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both end up in the finally block that stops everything.
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="labmes-bench-"))
    database = new_database(args, workdir)
    env = bench_env(args, workdir, database)
    run = Run(args, workdir, env, database, Processes(workdir, env))
    completed = False
    try:
        sim_url, token = install(run)
        base_url, stats_files = start_lab_mes(run)
        warm_up(run, base_url, stats_files)
        results = measure_window(run, sim_url, base_url, token, stats_files)
        log(
            f"window done: {results['poll_rate']:.1f} polls/s; dispatching {args.jobs} jobs"
            if args.jobs
            else "window done"
        )
        if args.jobs:
            results["dispatch"] = measure_dispatch(base_url, token, min(args.jobs, args.count), timeout=120)
        publish(run, results)
        completed = True
        return 0
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    finally:
        tear_down(run, completed)


if __name__ == "__main__":
    sys.exit(main())
