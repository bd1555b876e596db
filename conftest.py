"""Project-wide pytest setup: service checks, an isolated media root, a clean cache per test."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.services import in_ci, reachable

pytest_plugins = ["tests.lease_fixtures", "tests.server_fixtures"]


def _database_is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config, items):
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
