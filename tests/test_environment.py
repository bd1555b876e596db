"""A plain ``pytest`` is safe on a developer's machine: conftest.py scrubs the environment first."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
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


def _test_directory(path: Path) -> str:
    """The directory a pass is chosen for: ``tests/<name>`` for tests/, the top-level one elsewhere."""
    parts = path.relative_to(ROOT).parts[:-1]
    return "/".join(parts[:2]) if parts and parts[0] == "tests" else parts[0] if parts else "."


def test_every_test_directory_is_given_its_passes():
    """A new test directory runs on the services pass too, or is listed as embedded-only with a reason:
    never dropped from it silently (conftest.py, EMBEDDED_PASS_ONLY and BOTH_PASSES)."""
    import conftest

    assert not conftest.EMBEDDED_PASS_ONLY.keys() & conftest.BOTH_PASSES
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    directories = {
        _test_directory(path) for top in testpaths["testpaths"] for path in (ROOT / top).rglob("test_*.py")
    }
    named = conftest.EMBEDDED_PASS_ONLY.keys() | conftest.BOTH_PASSES
    assert directories - named == set(), "add them to BOTH_PASSES (or EMBEDDED_PASS_ONLY, with why)"
    assert named - directories == set(), "no such test directories"
