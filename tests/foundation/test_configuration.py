"""Bad configuration stops startup with one clear line that names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from mes import config

ROOT = Path(__file__).resolve().parents[2]


# Variables the developer's shell may set that would change what these tests configure.
INHERITED = {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}


def run_python(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in INHERITED}
    base.update({"MES_VAR_DIR": str(tmp_path / "var"), "MES_ENV_FILE": "/dev/null"})
    base.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def run_manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return run_python(tmp_path, "manage.py", *args, **env)


def assert_one_line(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Lab MES configuration error:")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "lab.example.org"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS"),
        ({"TASK_ENGINE": "rq"}, "TASK_ENGINE"),
        ({"TASK_ENGINE": "celery"}, "REDIS_URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"JOBS_MAX_UPLOAD_BYTES": "abc"}, "JOBS_MAX_UPLOAD_BYTES='abc' is not a whole number"),
        ({"FEDERATION_MAX_SKEW": "x"}, "FEDERATION_MAX_SKEW='x' is not a whole number"),
        ({"Q_WORKERS": "0"}, "Q_WORKERS='0' must be a whole number of at least 1"),
        ({"FEDERATION_HTTP_TIMEOUT": "ten"}, "FEDERATION_HTTP_TIMEOUT='ten' is not a number"),
        ({"OPCUA_POLL_INTERVAL": "0"}, "OPCUA_POLL_INTERVAL='0' must be a number greater than 0"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not true or false"),
        ({"DEBUG": ""}, "DEBUG='' is not true or false"),
        ({"JOBS_REQUIRE_APPROVAL": "sometimes"}, "JOBS_REQUIRE_APPROVAL='sometimes'"),
        ({"PERIODIC_INTERVALS": "jobs.reconcile-sweep=0"}, "PERIODIC_INTERVALS: 'jobs.reconcile-sweep=0'"),
        ({"PERIODIC_INTERVALS": "jobs.reconcile-sweep"}, "is not NAME=SECONDS"),
    ],
)
def test_bad_configuration_gives_one_line_naming_the_variable(tmp_path, env, needle):
    assert_one_line(run_manage(tmp_path, "check", **env), needle)


ENTRY_POINTS = {
    "manage.py": ("manage.py", "check"),
    "wsgi": ("-c", "import mes.wsgi"),
    "celery": ("-c", "import mes.celery"),
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"JOBS_MAX_UPLOAD_BYTES": "abc"}, "JOBS_MAX_UPLOAD_BYTES='abc' is not a whole number"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not true or false"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "lab.example.org"}, "SECRET_KEY must be set when DEBUG=false"),
    ],
    ids=["bad-int", "bad-bool", "no-secret-key"],
)
def test_every_entry_point_stops_with_the_same_one_line(tmp_path, entry_point, env, needle):
    """gunicorn imports mes.wsgi and Celery's worker and beat import mes.celery, not manage.py."""
    assert_one_line(run_python(tmp_path, *ENTRY_POINTS[entry_point], **env), needle)


def test_a_misspelt_periodic_task_stops_manage_py_and_celery_beat_naming_it(tmp_path):
    """Otherwise the operator's interval would silently change nothing."""
    env = {"PERIODIC_INTERVALS": "jobs.reconcile-sweep=5,jobs.reconcile-swep=5"}
    result = run_manage(tmp_path, "check", **env)
    assert result.returncode == 1
    assert "mes.E010" in result.stderr and "names no periodic task: jobs.reconcile-swep" in result.stderr
    assert "jobs.reconcile-sweep," in result.stderr  # the hint lists the real names
    beat = run_python(
        tmp_path,
        "-c",
        # What `celery -A mes beat` does: Django set up (Celery's Django fix-up), then the app finalized.
        "import django; from mes.celery import app; django.setup(); app.finalize()",
        **env,
    )
    assert_one_line(beat, "PERIODIC_INTERVALS names no periodic task: jobs.reconcile-swep")


def test_gunicorn_stops_instead_of_respawning_the_worker(tmp_path):
    """A worker exiting 2 would be respawned forever; gunicorn's app-load status halts the server."""
    result = run_python(
        tmp_path,
        *("-m", "gunicorn", "mes.wsgi:application", "--bind", "127.0.0.1:0", "--workers", "1"),
        "--no-control-socket",
        DEBUG="false",
        ALLOWED_HOSTS="lab.example.org",
    )
    assert result.returncode == 4, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("Lab MES configuration error:")]
    assert ours == ["Lab MES configuration error: SECRET_KEY must be set when DEBUG=false"], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("true", True), ("TRUE", True), (" yes ", True), ("on", True), ("1", True)],
        *[("false", False), ("False", False), ("no", False), ("off", False), ("0", False)],
    ],
)
def test_boolean_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("LABMES_TEST_FLAG", raw)
    assert config.boolean(environ.Env(), "LABMES_TEST_FLAG", default=not expected) is expected


def test_unset_variables_take_their_defaults(monkeypatch):
    for name in ("LABMES_TEST_FLAG", "LABMES_TEST_COUNT", "LABMES_TEST_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    env = environ.Env()
    assert config.boolean(env, "LABMES_TEST_FLAG", default=True) is True
    assert config.whole_number(env, "LABMES_TEST_COUNT", default=7, minimum=1) == 7
    assert config.positive_number(env, "LABMES_TEST_SECONDS", default=0.5) == 0.5


@pytest.mark.parametrize("raw", ["nan", "inf", "-1"])
def test_durations_must_be_finite_and_positive(monkeypatch, raw):
    monkeypatch.setenv("LABMES_TEST_SECONDS", raw)
    with pytest.raises(
        ImproperlyConfigured, match=r"^LABMES_TEST_SECONDS=.* must be a number greater than 0$"
    ):
        config.positive_number(environ.Env(), "LABMES_TEST_SECONDS", default=1.0)


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
def test_bootstrap_prints_the_admin_login_once_then_who_to_log_in_as(settings, tmp_path):
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path  # never the developer's var/admin-password
    settings.STATIC_ROOT = tmp_path / "static"  # collected here, not into this run's shared STATIC_ROOT
    first = StringIO()
    call_command("bootstrap", stdout=first)
    password = first.getvalue().split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert password not in again.getvalue()
    assert "Admin login: admin (password unchanged; forgotten?" in again.getvalue()
    assert "manage.py bootstrap --reset-admin" in again.getvalue()


@pytest.mark.django_db
def test_the_admin_password_is_kept_in_a_file_only_the_owner_can_read_and_can_be_reset(settings, tmp_path):
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    settings.STATIC_ROOT = tmp_path / "static"
    first = StringIO()
    call_command("bootstrap", stdout=first)
    assert (tmp_path / "static" / "admin").is_dir()  # collectstatic ran, into this test's var
    kept = tmp_path / "admin-password"
    assert f"also kept in {kept}" in first.getvalue()
    assert kept.stat().st_mode & 0o777 == 0o600
    password = kept.read_text().split("password: ")[1].strip()
    assert get_user_model().objects.get(username="admin").check_password(password)

    kept.chmod(0o644)  # someone loosened it: the reset makes it owner-only again
    reset = StringIO()
    call_command("bootstrap", "--reset-admin", stdout=reset)
    new_password = kept.read_text().split("password: ")[1].strip()
    assert new_password != password and new_password in reset.getvalue()
    assert kept.stat().st_mode & 0o777 == 0o600
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(new_password) and not admin.check_password(password)
    assert admin.is_superuser and admin.is_staff
