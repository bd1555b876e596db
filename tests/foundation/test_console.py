"""A quiet console: periodic housekeeping at DEBUG, and the status block `up` prints and `up --status` repeats."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs.demo import demo_students_ensure
from mes.console import UpState, admin_password_write, status_block
from mes.logfilters import PeriodicTaskChatter


def _passes(logger: str, message: str, *args, level: int = logging.INFO) -> logging.LogRecord | None:
    record = logging.LogRecord(logger, level, __file__, 1, message, args, None)
    return record if PeriodicTaskChatter().filter(record) else None


@pytest.mark.parametrize(
    ("logger", "message", "args"),
    [
        (
            "celery.beat",
            "Scheduler: Sending due task %s (%s)",
            ("jobs.scheduler-sweep", "jobs.tasks.scheduler_run"),
        ),
        ("celery.worker.strategy", "Task %s[%s] received", ("jobs.tasks.reconcile_sweep", "abc")),
        (
            "celery.app.trace",
            "Task %s[%s] succeeded in %ss: %s",
            ("jobs.tasks.scheduler_run", "abc", 0.01, 3),
        ),
        ("django-q", "Process-1 processing ten-oxygen 'jobs.tasks.scheduler_run'", ()),
        ("django-q", "Enqueued [labmes] 42", ()),
    ],
)
def test_periodic_task_chatter_is_hidden_at_info(logger, message, args):
    assert _passes(logger, message, *args) is None


def test_periodic_task_chatter_shows_at_debug():
    logging.getLogger("celery.beat").setLevel(logging.DEBUG)
    try:
        record = _passes("celery.beat", "Scheduler: Sending due task %s", "jobs.tasks.scheduler_run")
    finally:
        logging.getLogger("celery.beat").setLevel(logging.NOTSET)
    assert record is not None and record.levelname == "DEBUG"


@pytest.mark.parametrize(
    ("logger", "message", "level"),
    [
        ("celery.app.trace", "Task jobs.tasks.job_dispatch[abc] succeeded in 0.2s", logging.INFO),
        (
            "celery.app.trace",
            "Task jobs.tasks.scheduler_run[abc] raised unexpected: ValueError()",
            logging.ERROR,
        ),
        ("django-q", "Failed 'jobs.tasks.scheduler_run' (ten-oxygen) - boom", logging.ERROR),
        ("jobs.services", "job 'cube' sent to mk4 (jobs.tasks.scheduler_run)", logging.INFO),
    ],
)
def test_other_task_logs_and_failures_keep_their_level(logger, message, level):
    record = _passes(logger, message, level=level)
    assert record is not None and record.levelno == level


def test_the_project_console_handler_carries_the_filter(settings):
    handler = settings.LOGGING["handlers"]["console"]
    assert "periodic_chatter" in handler["filters"]
    assert settings.LOGGING["loggers"]["django-q"]["handlers"] == ["console"]


@pytest.mark.django_db
def test_status_block_names_urls_admin_login_password_file_and_fleet(settings, tmp_path, admin_user):
    settings.VAR_DIR = tmp_path
    block = status_block(base_url="http://127.0.0.1:8000", simulate=8)
    assert "http://127.0.0.1:8000/fleet/" in block and "http://127.0.0.1:8000/api/docs/" in block
    assert "http://127.0.0.1:8000/board/" in block and "http://127.0.0.1:8000/dashboard/" in block
    assert "Students" not in block  # no demo students before make run's simulated fleet seeds them
    assert "admin (new password: manage.py bootstrap --reset-admin)" in block
    assert "0 machines (0 active), 8 simulated printers" in block
    admin_password_write(username="admin", password="s3cret")
    assert f"admin (password in {tmp_path / 'admin-password'})" in status_block(base_url="http://x")
    assert "s3cret" not in status_block(base_url="http://x")


@pytest.mark.django_db
def test_up_status_says_when_nothing_runs(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="not running here"):
        call_command("up", "--status")


@pytest.mark.django_db
def test_up_status_prints_the_block_of_the_running_installation(settings, tmp_path, live_server, admin_user):
    settings.VAR_DIR = tmp_path
    UpState(base_url=live_server.url, simulate=3, pid=1234).save()
    out = StringIO()
    call_command("up", "--status", stdout=out)
    assert f"{live_server.url}/accounts/login/" in out.getvalue()
    assert "3 simulated printers" in out.getvalue()


def test_up_prints_the_status_block_again_on_each_enter(monkeypatch):
    from mes.management.commands.up import Command

    shown = []
    monkeypatch.setattr("sys.stdin", StringIO("\n\n"))
    Command._status_on_enter(lambda: shown.append(True))
    assert len(shown) == 2


@pytest.mark.django_db
def test_status_block_names_the_demo_students_and_their_password_file(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo_students_ensure()
    block = status_block(base_url="http://x", simulate=8)
    assert f"Students     ada, grace, alan (password in {tmp_path / 'demo-password'})" in block
    password = (tmp_path / "demo-password").read_text().split("password: ")[1].strip()
    assert password not in block
