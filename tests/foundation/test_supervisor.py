"""The supervisor restarts crashed children, refuses a second instance, and stops children in order."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from mes.supervisor import AlreadyRunning, ChildSpec, SingleInstanceLock, Supervisor
from tests.waiting import wait_until


def test_crashed_child_is_restarted_with_backoff_and_logged_by_name(tmp_path):
    out = io.StringIO()
    crasher = ChildSpec("crasher", [sys.executable, "-c", "print('hello from child'); raise SystemExit(3)"])
    supervisor = Supervisor([crasher], lock=SingleInstanceLock(tmp_path / "up.lock"), out=out, stop_timeout=2)
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    try:
        wait_until(lambda: supervisor.children[0].restarts >= 2)
    finally:
        supervisor.request_stop()
        thread.join(10)
    log = out.getvalue()
    assert "   crasher | hello from child" in log
    assert "crasher exited with code 3; restarting in 1 s" in log
    assert "crasher exited with code 3; restarting in 2 s" in log


def test_second_instance_is_refused(tmp_path):
    first = SingleInstanceLock(tmp_path / "up.lock")
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match="already running"):
            SingleInstanceLock(tmp_path / "up.lock").acquire()
    finally:
        first.release()
    SingleInstanceLock(tmp_path / "up.lock").acquire()  # free again once released


def test_stop_lets_children_finish_then_kills_stragglers(tmp_path):
    graceful = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('finishing in-flight work', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    out = io.StringIO()
    supervisor = Supervisor(
        [
            ChildSpec("polite", [sys.executable, "-c", graceful]),
            ChildSpec("stubborn", [sys.executable, "-c", stubborn]),
        ],
        lock=SingleInstanceLock(tmp_path / "up.lock"),
        out=out,
        stop_timeout=1.5,
    )
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    wait_until(lambda: out.getvalue().count("| ready") == 2)
    supervisor.request_stop()
    thread.join(15)
    assert not thread.is_alive()
    log = out.getvalue()
    assert "    polite | finishing in-flight work" in log
    assert "stubborn did not stop in 2 s; killing it" in log
    assert all(child.process.poll() is not None for child in supervisor.children)
    assert "exited with code" not in log  # a requested stop is not a crash


def test_stop_takes_the_intake_down_first_then_the_workers_then_the_rest(tmp_path):
    """Web and beat stop first (no new work), workers finish in-flight tasks, the simulator goes last."""

    def child(name: str, finish: float = 0.0) -> ChildSpec:
        code = (
            "import signal, sys, time\n"
            f"def stop(*a):\n    print('got SIGTERM', flush=True)\n    time.sleep({finish})\n"
            "    print('stopped', flush=True)\n    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, stop)\nprint('ready', flush=True)\ntime.sleep(60)\n"
        )
        return ChildSpec(name, [sys.executable, "-c", code])

    out = io.StringIO()
    supervisor = Supervisor(
        [child("simulator"), child("worker", finish=0.5), child("web")],
        lock=SingleInstanceLock(tmp_path / "up.lock"),
        out=out,
        stop_timeout=10,
    )
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    wait_until(lambda: out.getvalue().count("| ready") == 3)
    supervisor.request_stop()
    thread.join(15)
    lines = out.getvalue().splitlines()

    def at(name: str, text: str) -> int:
        return next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name} | {text}"))

    assert at("web", "stopped") < at("worker", "got SIGTERM")
    assert at("worker", "stopped") < at("simulator", "got SIGTERM")
    assert "killing" not in out.getvalue()
