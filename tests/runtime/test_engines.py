"""Both task engines run the same task functions; periodic schedules are declared once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django_q.models import OrmQ

from mes.celery import app as celery_app
from mes.engine import Schedule, enqueue, schedule
from tests.migrated import SERVICE_VARS, migrated_sqlite
from tests.services import private_redis
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_schedule_refuses_conflicting_or_empty_declarations():
    entries = Schedule()
    entries.add(name="sweep", task="jobs.tasks.sweep", seconds=30)
    entries.add(name="sweep", task="jobs.tasks.sweep", seconds=30)  # same declaration twice is fine
    with pytest.raises(ValueError, match="declared twice"):
        entries.add(name="sweep", task="jobs.tasks.sweep", seconds=10)
    with pytest.raises(ValueError, match="positive interval"):
        entries.add(name="never", task="x.y", seconds=0)


def test_periodic_intervals_override_what_the_apps_declare_by_name():
    entries = Schedule(intervals={"sweep": 5.0, "swep": 1.0})
    entries.add(name="sweep", task="jobs.tasks.sweep", seconds=30)
    entries.add(name="purge", task="jobs.tasks.purge", seconds=3600)
    assert {entry.name: entry.seconds for entry in entries.entries()} == {"sweep": 5.0, "purge": 3600}
    assert entries.unknown_intervals() == ["swep"]


def test_the_embedded_beat_takes_its_intervals_from_the_setting(tmp_path):
    """The embedded beat schedules from the entries it announces, PERIODIC_INTERVALS applied."""
    migrated_sqlite(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env.update(
        MES_VAR_DIR=str(tmp_path), MES_ENV_FILE="/dev/null", PERIODIC_INTERVALS="jobs.reconcile-sweep=2.5"
    )
    beat = subprocess.Popen(
        [sys.executable, "manage.py", "mes_beat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        first = beat.stdout.readline()
    finally:
        beat.send_signal(signal.SIGTERM)
        beat.wait(20)
    assert "jobs.reconcile-sweep every 2.5 s" in first
    assert "jobs.scheduler-sweep every 10 s" in first  # the others keep their declared interval


def test_celery_beat_gets_the_declared_schedule():
    celery_app.finalize()
    declared = {entry.name: entry for entry in schedule().entries()}
    assert "mes.clean-expired-leases" in declared
    beat = celery_app.conf.beat_schedule
    for name, entry in declared.items():
        assert beat[name]["task"] == entry.task
        assert beat[name]["schedule"] == entry.seconds


@pytest.mark.django_db(transaction=True)
def test_enqueue_waits_for_the_transaction_to_commit(settings):
    settings.TASK_ENGINE = "django-q"
    from django.db import transaction

    with transaction.atomic():
        enqueue("mes.tasks.lease_cleanup")
        assert OrmQ.objects.count() == 0  # a worker must not see work before its data exists
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_enqueue_is_dropped_when_the_transaction_rolls_back(settings):
    settings.TASK_ENGINE = "django-q"
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("mes.tasks.lease_cleanup")
        raise RuntimeError("rolled back")
    assert OrmQ.objects.count() == 0


def _manage(env: dict, *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


SEED = (
    "from datetime import timedelta\n"
    "from django.utils import timezone\n"
    "from mes.models import Lease\n"
    "from mes.engine import send_now\n"
    "Lease.objects.create(key='machine:old', owner='dead-worker', expires_at=timezone.now() - timedelta(days=1))\n"
    "Lease.objects.create(key='machine:live', owner='live-worker', expires_at=timezone.now() + timedelta(days=1))\n"
    "send_now('mes.tasks.lease_cleanup')\n"
)
CHECK = "from mes.models import Lease; print(sorted(Lease.objects.values_list('key', flat=True)))"


def _run_engine_until_done(env: dict, argv: list[str]) -> list[str]:
    worker = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        remaining = [""]

        def drained() -> bool:
            remaining[0] = _manage(env, "shell", "--no-imports", "-c", CHECK).strip()
            return remaining[0] == "['machine:live']"

        # No wait failure here: the caller's assert shows what was left.
        with contextlib.suppress(AssertionError):
            wait_until(drained, timeout=60, interval=0.5)
        return eval(remaining[0])  # noqa: S307 - our own printed list
    finally:
        worker.send_signal(signal.SIGTERM)  # the engine stops its own workers
        worker.wait(30)


def _isolated_env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE"}}
    env.update(MES_VAR_DIR=str(tmp_path / "var"), MES_ENV_FILE="/dev/null", **extra)
    return env


@pytest.mark.slow
def test_embedded_engine_runs_a_task_in_a_real_cluster(tmp_path):
    env = _isolated_env(tmp_path)
    migrated_sqlite(tmp_path / "var")
    _manage(env, "shell", "--no-imports", "-c", SEED)
    remaining = _run_engine_until_done(env, [sys.executable, "manage.py", "qcluster"])
    assert remaining == ["machine:live"]


@pytest.mark.slow
def test_celery_engine_runs_the_same_task_in_a_real_worker(tmp_path):
    with private_redis() as redis_url:
        env = _isolated_env(tmp_path, REDIS_URL=redis_url, TASK_ENGINE="celery")
        migrated_sqlite(tmp_path / "var")
        _manage(env, "shell", "--no-imports", "-c", SEED)
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mes",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
        ]
        remaining = _run_engine_until_done(env, argv)
    assert remaining == ["machine:live"]


def test_a_dead_workers_celery_tasks_go_to_another_within_minutes_not_an_hour():
    """Late-acked tasks of a killed worker host come back when the broker's visibility timeout ends."""
    from mes.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.broker_transport_options["visibility_timeout"] == 600
