"""Real processes sharing Redis and one database: a change made in one is used by another within 1 s,
and errors added by two processes at once are all kept."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from tests.migrated import migrated_sqlite
from tests.services import require_redis

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
import os, sys, time
import django
django.setup()
from machines.registry import get_registry
"""


def forget_registry_keys(url: str) -> None:
    """A fresh database needs a fresh generation and state in the cache (only our keys are touched)."""
    client = redis.Redis.from_url(url)
    for pattern in ("mes:*:registry:generation", "mes:*:machines:*"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory):
    url = require_redis()
    forget_registry_keys(url)
    var = tmp_path_factory.mktemp("var")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE", "SECRET_KEY"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="mes.settings",
        MES_VAR_DIR=str(var),
        MES_ENV_FILE="/dev/null",
        REDIS_URL=url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    migrated_sqlite(var)
    yield env
    forget_registry_keys(url)


def run(env, code: str, timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SETUP + textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_change_in_one_process_is_used_by_another_within_a_second(shared_env, tmp_path):
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SETUP
            + textwrap.dedent(
                """
                registry = get_registry()
                print("ready", flush=True)
                deadline = time.time() + 30
                seen_machine = seen_setting = None
                while time.time() < deadline and not seen_setting:
                    registry = get_registry()
                    for m in registry.machines():
                        if m.name == "Labeller" and m.driver is not None and not seen_machine:
                            seen_machine = time.time()
                            print("machine", seen_machine, m.initialized, flush=True)
                        if m.name == "Labeller" and m.get_setting("COPIES") == 3:
                            seen_setting = time.time()
                            print("setting", seen_setting, flush=True)
                    time.sleep(0.02)
                """
            ),
        ],
        cwd=ROOT,
        env=shared_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout.readline().strip() == "ready"
        out = run(
            shared_env,
            f"""
            from plugins.services import plugin_activate
            from machines.services import machine_create
            plugin_activate(slug="folder-labels")
            machine = machine_create(name="Labeller", machine_type="label-printer", driver="folder-labels",
                                     settings={{"OUTPUT_DIR": {str(tmp_path)!r}}})
            print("created", time.time(), flush=True)
            """,
        )
        created = float(out.split()[1])
        line = watcher.stdout.readline().split()
        assert line[0] == "machine", watcher.stderr.read()
        assert float(line[1]) - created < 1.0
        assert line[2] == "True"  # the watcher (owner by default) initialized it with the new driver

        out = run(
            shared_env,
            """
            from machines.models import MachineConfig
            from machines.services import machine_settings_update
            machine_settings_update(machine=MachineConfig.objects.get(name="Labeller"), settings={"COPIES": 3})
            print("changed", time.time(), flush=True)
            """,
        )
        changed = float(out.split()[1])
        line = watcher.stdout.readline().split()
        assert line[0] == "setting", watcher.stderr.read()
        assert float(line[1]) - changed < 1.0
        assert watcher.wait(timeout=30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()


def test_errors_added_by_two_processes_at_once_are_all_kept(shared_env):
    machine_id = run(
        shared_env,
        """
        from machines.models import MachineConfig
        m = MachineConfig.objects.create(name="Shared", machine_type="label-printer", driver="none")
        print(m.pk)
        """,
    ).strip()
    code = f"""
        from machines.registry import get_registry
        registry = get_registry()
        machine = registry.get_machine({machine_id!r})
        start = float(sys.argv[1])
        while time.time() < start:
            time.sleep(0.001)
        for i in range(20):
            machine.handle_error(f"{{os.getpid()}}-{{i}}")
        print(os.getpid())
        """
    start = str(time.time() + 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SETUP + textwrap.dedent(code), start],
            cwd=ROOT,
            env=shared_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    pids = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        pids.append(out.strip())
    errors = run(
        shared_env,
        f"""
        from machines.state import read_state
        print("\\n".join(read_state({machine_id!r}).errors))
        """,
    ).split()
    assert sorted(errors) == sorted(f"{pid}-{i}" for pid in pids for i in range(20))
