"""Project-wide pytest setup: a scrubbed environment, service checks, an isolated media root, a clean
cache per test.

The environment is scrubbed here, before Django reads its settings, so that a plain ``pytest tests/jobs``
on a developer's machine never uses the developer's ``.env``, production variables, or their database
and Redis (each test flushes the cache). That is why ``DJANGO_SETTINGS_MODULE`` is set here and not in
pyproject.toml: pytest-django would load the settings before this file runs.

The services pass (PostgreSQL + Redis + Celery) is asked for on purpose by pointing ``DATABASE_URL`` at
the test database, ``TEST_DATABASE_URL`` (what ``make test-services`` does); then ``DATABASE_URL``,
``REDIS_URL`` and ``TASK_ENGINE`` are kept.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import django
import pytest
from django.conf import settings

from tests.services import TEST_DATABASE_URL, in_ci, reachable

# Always from the developer's environment, never in a test run.
SCRUBBED = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")
# Kept only for the services pass (DATABASE_URL == TEST_DATABASE_URL).
SERVICES = ("DATABASE_URL", "REDIS_URL", "TASK_ENGINE")


def scrub_environment(environ: os._Environ | dict) -> list[str]:
    """Remove what must not reach a test run; returns the names removed (for the report header)."""
    services_pass = bool(environ.get("DATABASE_URL")) and environ.get("DATABASE_URL") == TEST_DATABASE_URL
    removed = [name for name in SCRUBBED + (() if services_pass else SERVICES) if name in environ]
    for name in removed:
        del environ[name]
    environ["MES_ENV_FILE"] = os.devnull  # never read a .env file
    # Metrics samples of this run only: not var/'s (a running `make run`), not another xdist worker's.
    environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mes-test-prometheus-")
    if services_pass and environ.get("REDIS_URL") and environ.get("PYTEST_XDIST_WORKER"):
        environ["REDIS_URL"] = worker_redis_url(environ["REDIS_URL"], environ["PYTEST_XDIST_WORKER"])
        environ.pop("CELERY_BROKER_URL", None)  # follows REDIS_URL
    return removed


# Databases below the services pass's own that parallel workers may take (gw1 the one below, ...);
# 15 is TEST_REDIS_URL's.
MAX_WORKERS_ON_REDIS = 8


def worker_redis_url(url: str, worker: str) -> str:
    """Each pytest-xdist worker of the services pass empties a Redis database of its own before every
    test: gw0 keeps the configured one, gw1 takes the one below, and so on."""
    index = int(worker.removeprefix("gw"))
    if index >= MAX_WORKERS_ON_REDIS:
        raise pytest.UsageError(f"at most {MAX_WORKERS_ON_REDIS} xdist workers can share the test Redis")
    base, _, db = url.rpartition("/")
    number = int(db or 0) - index
    if number < 0:
        raise pytest.UsageError(f"REDIS_URL {url} leaves no database for xdist worker {worker}")
    return f"{base}/{number}"


# With DJANGO_SETTINGS_MODULE exported, pytest-django read the settings before this file ran: too late
# to scrub, so stop rather than run against what the environment points at.
_READ_EARLY = settings.configured  # does not itself read the settings
_DOTENV = os.environ.get("MES_ENV_FILE") or str(Path(__file__).resolve().parent / ".env")
SCRUBBED_NAMES = scrub_environment(os.environ)
if _READ_EARLY and (SCRUBBED_NAMES or (os.devnull != _DOTENV and os.path.isfile(_DOTENV))):
    pytest.exit(
        "DJANGO_SETTINGS_MODULE is set in the environment, so the settings were read before conftest.py "
        f"could ignore {', '.join(SCRUBBED_NAMES) or _DOTENV}: unset it (conftest.py sets it itself)",
        returncode=4,
    )
if not _READ_EARLY:
    os.environ["DJANGO_SETTINGS_MODULE"] = "mes.settings"
    # Set up here (pytest-django only would at pytest_configure): the fixture plugins import models.
    django.setup()
    # Not left for child processes: a `pytest` started by a test must scrub its own environment too.
    del os.environ["DJANGO_SETTINGS_MODULE"]
# Django's advice for test runs: a fast password hasher. PBKDF2 costs ~0.3 s of CPU per password set or
# checked, and hundreds of tests create users with one (pytest-django's admin_user among them).
# Processes that tests start (the fault tests' installations, `manage.py` commands) keep the real one.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# This run's own var/: what tests run in this process (bootstrap's collectstatic, the admin and demo
# password files, federation keys) never lands in the checkout's var/. An empty STATIC_ROOT also keeps
# test clients cheap: WhiteNoise indexes every collected file each time a client builds its middleware
# (~30 ms for 355 files, and the authorization matrix alone builds 5,772 clients per pass).
TEST_VAR_DIR = Path(tempfile.mkdtemp(prefix="mes-test-var-"))
settings.VAR_DIR = TEST_VAR_DIR
settings.STATIC_ROOT = TEST_VAR_DIR / "static"
settings.STATIC_ROOT.mkdir()
settings.FEDERATION_KEY_DIR = TEST_VAR_DIR / "federation"

pytest_plugins = ["tests.lease_fixtures", "tests.server_fixtures"]


def pytest_report_header(config) -> list[str]:
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    lines = [f"Lab MES test environment: {database}, task engine {settings.TASK_ENGINE}"]
    if services_pass():
        lines.append(f"run by the embedded pass only: {', '.join(sorted(EMBEDDED_PASS_ONLY))}")
    if SCRUBBED_NAMES:
        lines.append(f"ignored from the environment: {', '.join(SCRUBBED_NAMES)}")
    return lines


def _database_is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


# Which pass runs what. The embedded pass (`make test-sqlite`: SQLite, database cache, django-q) runs
# every test. The services pass (`make test-services`: PostgreSQL, Redis, Celery) runs every test not
# marked `slow`, except the directories below: their tests cannot behave differently on another
# database, cache or task engine, so a second run would repeat the first. Every test directory is
# named in exactly one of the two (tests/test_environment.py fails on a new one until it is).
EMBEDDED_PASS_ONLY = {
    # Chromium against the pages; the views, fragments and JSON they read are tested on both passes
    # in tests/pages (fleet_live, dashboard, job pages...).
    "tests/browser": "drives the pages in Chromium; tests/pages covers what they read on both passes",
}
BOTH_PASSES = {
    "tests",  # the files at the top (environment, layers, waiting)
    "tests/contract",
    "tests/drivers",
    "tests/events",
    "tests/federation",
    "tests/foundation",
    "tests/jobs",
    "tests/machines",
    "tests/maintenance",
    "tests/materials",
    "tests/metrics",
    "tests/notifications",
    "tests/opcua",
    "tests/pages",
    "tests/plugins",
    "tests/policies",
    "tests/runtime",
    "tests/webhooks",
}


def services_pass() -> bool:
    """PostgreSQL and Redis: what `make test-services` asks for."""
    return _database_is_postgres() and bool(settings.REDIS_URL)


def _embedded_pass_only(item: pytest.Item) -> bool:
    return any(item.nodeid.startswith(f"{directory}/") for directory in EMBEDDED_PASS_ONLY)


# Tests of half a minute to a minute each, queued first (after the groups below) so that pytest-xdist's
# workers end on short tests: at the end of the queue, one of them held the pass up by over a minute.
LONG_TESTS = (
    "tests/contract/test_schemathesis.py::",
    "tests/federation/test_two_labs",
    "tests/opcua/test_bridge_client_mode.py::",
    "tests/opcua/test_bridge_server_mode.py::",
    "tests/jobs/test_upload_streaming.py::",
)


def pytest_collection_modifyitems(config, items):
    if services_pass():
        deselected = [item for item in items if _embedded_pass_only(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not _embedded_pass_only(item)]
    # After pytest-django's ordering (database tests, then transactional ones); stable otherwise.
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_TESTS))
    on_postgres = _database_is_postgres()
    if on_postgres:
        db = settings.DATABASES["default"]
        url = f"postgres://{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
        if not reachable(url, 5432):
            if in_ci():
                pytest.exit(f"PostgreSQL unreachable at {url} (CI=true: services are required)", returncode=1)
            skip = pytest.mark.skip(reason=f"PostgreSQL unreachable at {url}")
            for item in items:
                item.add_marker(skip)
            return
    if settings.REDIS_URL and not reachable(settings.REDIS_URL, 6379):
        if in_ci():
            pytest.exit(
                f"Redis unreachable at {settings.REDIS_URL} (CI=true: services are required)", returncode=1
            )
        skip = pytest.mark.skip(reason=f"Redis unreachable at {settings.REDIS_URL}")
        for item in items:
            item.add_marker(skip)
        return
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="runs in the PostgreSQL pass of make test"))


# Tests that run whole installations (simulator, web, poller, worker, beat; tests/runtime/fault_support.py)
# are two queues of about four minutes, each run by one worker from the start: never more than two at
# once (four overload a 2-core box past the recovery times they assert), and never left for the end,
# where a worker that took one would hold the next two behind it while the others sit idle.
STACK_TESTS = (
    "tests/runtime/test_faults.py::",
    "tests/runtime/test_material_faults.py::",
    "tests/runtime/test_notification_faults.py::",
    "tests/runtime/test_webhook_faults.py::",
    "tests/runtime/test_whole_loop.py::",
)
FIRST_STACK_QUEUE = (
    "tests/runtime/test_faults.py::test_workers_and_pollers_killed",
    "tests/runtime/test_faults.py::test_redis_flushed",
    "tests/runtime/test_faults.py::test_killing_the_web_server",
    "tests/runtime/test_whole_loop.py::",
)


def xdist_group(nodeid: str) -> str | None:
    """Tests that share one expensive or global thing run on one pytest-xdist worker; every other test
    may run beside any other (``make test`` runs ``-n 4 --dist loadgroup``)."""
    if nodeid.startswith(STACK_TESTS):
        return "stacks-1" if nodeid.startswith(FIRST_STACK_QUEUE) else "stacks-2"
    if "[octoprint-real" in nodeid or "real_octoprint" in nodeid:
        return "octoprint"  # one real OctoPrint (and its virtualenv) per session
    if nodeid.startswith("tests/browser/"):
        return "browser"  # one Chromium for the package
    if nodeid.startswith(
        ("tests/machines/test_multiprocess.py", "tests/plugins/test_settings_multiprocess.py")
    ):
        return "registry-keys"  # processes sharing the test Redis's registry keys
    return None


def pytest_xdist_make_scheduler(config, log):
    """Groups by ``xdist_group`` above. (pytest-xdist's own loadgroup reads groups it appends to node
    ids, which pytest 9.2 no longer lets a plugin change: its marks would be silently ignored.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return Scheduling(config, log)


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clean_cache(request, django_db_blocker):
    """Each test starts with an empty cache.

    A Redis cache is emptied by hand. The database cache rolls back with ordinary tests, but the
    flush after a transactional test empties only the model tables, so its cache table is cleared too.
    """
    from django.core.cache import cache

    if settings.REDIS_URL:
        cache.clear()
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional and not settings.REDIS_URL:
        with django_db_blocker.unblock():
            cache.clear()
