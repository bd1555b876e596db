"""A plain ``pytest`` is safe on a developer's machine: conftest.py scrubs the environment first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import scrub_environment
from tests.services import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]
DEVELOPER = {
    "DATABASE_URL": "postgres://dev@127.0.0.1:1/production",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "TASK_ENGINE": "celery",
    "SECRET_KEY": "the-real-one",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "lab.example.org",
}


def test_a_developers_variables_are_scrubbed():
    environ = dict(DEVELOPER, PATH="/bin")
    removed = scrub_environment(environ)
    assert sorted(removed) == sorted(DEVELOPER)
    metrics_dir = environ.pop("PROMETHEUS_MULTIPROC_DIR")
    assert environ == {"PATH": "/bin", "MES_ENV_FILE": os.devnull}
    # Metrics samples go to a directory of this run's own, never the developer's var/.
    assert Path(metrics_dir).is_dir() and "mes-test-prometheus-" in metrics_dir


def test_the_services_pass_is_kept_when_pointed_at_the_test_database():
    environ = dict(DEVELOPER, DATABASE_URL=TEST_DATABASE_URL)
    scrub_environment(environ)
    assert environ["DATABASE_URL"] == TEST_DATABASE_URL
    assert environ["REDIS_URL"] == DEVELOPER["REDIS_URL"] and environ["TASK_ENGINE"] == "celery"
    assert "SECRET_KEY" not in environ and "DEBUG" not in environ


def test_this_run_uses_the_test_services_or_the_embedded_default(settings):
    """What every run checks about itself (and what the run below checks in a developer's shell)."""
    assert "SECRET_KEY" not in os.environ and os.environ["MES_ENV_FILE"] == os.devnull
    if os.environ.get("DATABASE_URL"):
        assert os.environ["DATABASE_URL"] == TEST_DATABASE_URL  # the services pass, asked for on purpose
    else:
        assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
        assert not settings.REDIS_URL and settings.TASK_ENGINE == "django-q"


def run_probe(env: dict[str, str]) -> subprocess.CompletedProcess:
    probe = "tests/test_environment.py::test_this_run_uses_the_test_services_or_the_embedded_default"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", probe],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_plain_pytest_in_a_developers_shell_runs_on_the_embedded_default(tmp_path):
    """The real run: production-looking variables (unreachable services) and a .env full of them."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("DATABASE_URL=postgres://dev@127.0.0.1:1/production\nREDIS_URL=redis://127.0.0.1:1/0\n")
    env = {**os.environ, **DEVELOPER, "MES_ENV_FILE": str(dotenv)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = run_probe(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_an_exported_settings_module_with_production_variables_stops_the_run():
    """Then pytest-django reads the settings before conftest.py can scrub: refuse, saying why."""
    result = run_probe({**os.environ, **DEVELOPER, "DJANGO_SETTINGS_MODULE": "mes.settings"})
    assert result.returncode == 4
    assert "unset it (conftest.py sets it itself)" in result.stdout + result.stderr
    assert "passed" not in result.stdout
