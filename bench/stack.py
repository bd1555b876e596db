"""The processes and the throw-away installation of the fleet benchmark (``bench/run.py``).

Every process is started in its own session (process group) with its output in a log file in the
benchmark's work directory, so ``Processes.stop_all`` can end it with its children and a failure can
show the last lines of each log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests
from procfs import children_map, descendants, peak_rss_mb, proc_stat

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    lab_mes: bool = True  # counted in Lab MES CPU and memory (the simulator is not)
    cpu_start: dict[int, int] = field(default_factory=dict)
    peak_mb: dict[int, tuple[str, float]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


class Processes:
    """Every process the benchmark started; ``stop_all`` ends each process group, TERM then KILL."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], *, role: str | None = None, lab_mes: bool = True) -> Proc:
        env = dict(self.env)
        if role:
            env["MES_PROCESS_ROLE"] = role
        log_path = self.workdir / f"{name}.log"
        handle = log_path.open("wb")
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        proc = Proc(name, popen, log_path, lab_mes=lab_mes)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{proc.name} exited with code {proc.popen.returncode}; last lines:\n{proc.tail()}"
                )

    def stop_all(self, timeout: float = 15.0) -> None:
        alive = [p for p in self.procs if p.popen.poll() is None]
        for proc in alive:
            # The main process only, as mes.supervisor does: gunicorn, Celery and django-q stop their
            # own workers, and django-q hangs if its workers are signalled behind its back.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            # The group too: a pool child outliving its parent is still ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)

    # -- CPU and memory of the Lab MES process trees --
    def lab_mes_trees(self) -> dict[str, list[int]]:
        tree = children_map()
        return {p.name: descendants(p.pid, tree) for p in self.procs if p.lab_mes and p.popen.poll() is None}

    def cpu_ticks(self) -> dict[str, int]:
        """Per process name: CPU ticks of it and all its descendants (reaped ones through cutime)."""
        totals = {}
        for name, pids in self.lab_mes_trees().items():
            totals[name] = sum(stat[1] for pid in pids if (stat := proc_stat(pid)))
        return totals

    def sample_memory(self) -> None:
        tree = children_map()
        for proc in self.procs:
            if not proc.lab_mes or proc.popen.poll() is not None:
                continue
            for pid in descendants(proc.pid, tree):
                mb = peak_rss_mb(pid)
                if mb is not None:
                    label = proc.name if pid == proc.pid else f"{proc.name} (child)"
                    proc.peak_mb[pid] = (label, max(mb, proc.peak_mb.get(pid, ("", 0.0))[1]))


class Database:
    """A throw-away PostgreSQL database, created next to the one ``admin_url`` names."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"labmes_bench_{os.getpid()}"
        self.created = False

    @property
    def url(self) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + self.name

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self) -> None:
        if not self.created:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.created = False


class SqliteDatabase:
    """The embedded default's database: a SQLite file in the benchmark's work directory."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = str(self.path)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"  # an absolute path: sqlite:////tmp/…

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.drop()  # migrate creates the file

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def run_step(argv: list[str], env: dict[str, str], *, timeout: float, what: str) -> str:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def wait_for(predicate, *, timeout: float, what: str, procs: Processes, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        with contextlib.suppress(requests.RequestException, OSError, ValueError):
            value = predicate()
            if value:
                return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
