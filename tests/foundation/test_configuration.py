"""Bad configuration stops startup with one clear line that names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE", "DEBUG"}
    }
    base.update({"MES_VAR_DIR": str(tmp_path / "var"), "MES_ENV_FILE": "/dev/null"})
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "lab.example.org"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS"),
        ({"TASK_ENGINE": "rq"}, "TASK_ENGINE"),
        ({"TASK_ENGINE": "celery"}, "REDIS_URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ],
)
def test_bad_configuration_gives_one_line_naming_the_variable(tmp_path, env, needle):
    result = run_manage(tmp_path, "check", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Lab MES configuration error:")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_production_settings_start_when_complete(tmp_path):
    result = run_manage(
        tmp_path, "check", "--deploy", DEBUG="false", SECRET_KEY="s" * 60, ALLOWED_HOSTS="lab.example.org"
    )
    assert result.returncode == 0, result.stderr


def test_embedded_default_generates_the_secret_key_once_and_keeps_it(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_manage(tmp_path, "shell", "--no-imports", "-c", code)
    second = run_manage(tmp_path, "shell", "--no-imports", "-c", code)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text().strip() == first.stdout.strip() == second.stdout.strip()
    assert len(first.stdout.strip()) >= 50
    assert oct(key_file.stat().st_mode)[-3:] == "600"


def test_embedded_database_uses_wal(tmp_path):
    code = (
        "from django.db import connection\n"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])"
    )
    result = run_manage(tmp_path, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wal"
    assert (tmp_path / "var" / "db.sqlite3").exists()


@pytest.mark.django_db
def test_bootstrap_prints_the_admin_login_once_then_who_to_log_in_as():
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    first = StringIO()
    call_command("bootstrap", stdout=first)
    password = first.getvalue().split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert password not in again.getvalue()
    assert "Admin login: admin (password unchanged; forgotten?" in again.getvalue()
    assert "manage.py changepassword admin" in again.getvalue()
