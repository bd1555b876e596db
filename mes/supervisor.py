"""Start and watch Lab MES's processes: web server, task workers, scheduler, simulator.

A crashed child is restarted with exponential backoff; SIGINT/SIGTERM stop the children gracefully
(SIGTERM lets gunicorn, Celery and django-q finish in-flight work), then SIGKILL after a timeout.
A lock file in var/ keeps a second supervisor from starting on the same installation.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0
STABLE_AFTER = 30.0  # a child that ran this long gets its backoff reset


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_START
    restart_at: float | None = None
    restarts: int = 0
    pump: threading.Thread | None = None  # relays the child's output to ours


class AlreadyRunning(RuntimeError):
    pass


class SingleInstanceLock:
    """An flock on a file in var/: released by the kernel if the holder dies, so it never goes stale."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode().strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"Lab MES is already running from {self.path.parent} (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Supervisor:
    def __init__(
        self,
        specs: list[ChildSpec],
        *,
        lock: SingleInstanceLock,
        stop_timeout: float = 30.0,
        out: IO[str] | None = None,
        on_started: Callable[[], None] | None = None,
        on_locked: Callable[[], None] | None = None,
    ) -> None:
        self.children = [_Child(spec) for spec in specs]
        self.on_locked = on_locked  # runs once this instance holds the lock, before any child starts
        self.lock = lock
        self.stop_timeout = stop_timeout
        self.out = out or sys.stdout
        self.on_started = on_started
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()

    def log(self, name: str, line: str) -> None:
        with self._write_lock:
            self.out.write(f"{name:>10} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.log(name, line)

    def _start(self, child: _Child) -> None:
        env = {**os.environ, **child.spec.env, "PYTHONUNBUFFERED": "1"}
        child.process = subprocess.Popen(
            child.spec.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # the terminal's Ctrl-C reaches us only; we stop children in order
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pump = threading.Thread(
            target=self._pump, args=(child.spec.name, child.process.stdout), daemon=True
        )
        child.pump.start()
        self.log("supervisor", f"started {child.spec.name} (pid {child.process.pid})")

    def request_stop(self, *_args) -> None:
        self._stopping.set()

    def run(self) -> int:
        self.lock.acquire()
        if self.on_locked is not None:
            self.on_locked()
        previous = {}
        if (
            threading.current_thread() is threading.main_thread()
        ):  # embedders in threads stop via request_stop
            previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                self._start(child)
            if self.on_started:
                threading.Thread(target=self.on_started, daemon=True).start()
            while not self._stopping.wait(0.2):
                self._watch()
            self._stop_all()
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.lock.release()

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                continue
            code = child.process.poll() if child.process else None
            if code is None:
                continue
            if now - child.started_at >= STABLE_AFTER:
                child.backoff = BACKOFF_START
            self.log(
                "supervisor",
                f"{child.spec.name} exited with code {code}; restarting in {child.backoff:.0f} s",
            )
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, BACKOFF_MAX)

    def _stop_all(self) -> None:
        """Stop in order within one timeout: first what brings new work (web, beat), then what does
        the work (workers finish in-flight tasks, pollers in-flight polls), then the rest; kill
        whatever is still running when the time is up."""
        running = [c for c in self.children if c.process and c.process.poll() is None]
        self.log("supervisor", f"stopping {len(running)} process(es); in-flight work may finish")
        deadline = time.monotonic() + self.stop_timeout
        for phase in _stop_phases(running):
            for child in phase:
                # Only the child's main process: gunicorn, Celery and django-q stop their own workers
                # in order, and django-q hangs if its workers are signalled behind its back.
                self._signal(child, signal.SIGTERM, group=False)
            for child in phase:
                try:
                    child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    continue  # killed below, once every phase had its chance
                if child.pump is not None:
                    # Its last words before the next phase's: the console tells the stop in order.
                    # (Bounded: a grandchild that outlived it may hold the pipe open.)
                    child.pump.join(timeout=min(2.0, max(0.0, deadline - time.monotonic())))
        for child in running:
            if child.process.poll() is None:
                self.log(
                    "supervisor", f"{child.spec.name} did not stop in {self.stop_timeout:.0f} s; killing it"
                )
                self._signal(child, signal.SIGKILL, group=True)
                child.process.wait()
        self.log("supervisor", "all processes stopped")

    @staticmethod
    def _signal(child: _Child, sig: int, *, group: bool) -> None:
        try:
            if group:
                os.killpg(child.process.pid, sig)
            else:
                os.kill(child.process.pid, sig)
        except ProcessLookupError:
            return


# Children that bring new work stop first, those that do it next, helpers (the simulator) last.
STOP_ORDER = {"web": 0, "beat": 0, "worker": 1, "poller": 1, "opcua": 1}
_STOP_LAST = 2


def _stop_phases(children: list[_Child]) -> list[list[_Child]]:
    phases: dict[int, list[_Child]] = {}
    for child in children:
        phases.setdefault(STOP_ORDER.get(child.spec.name.split("-")[0], _STOP_LAST), []).append(child)
    return [phases[key] for key in sorted(phases)]
