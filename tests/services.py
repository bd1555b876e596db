"""Where the real services for tests are, and whether they answer.

Tests that need Redis or PostgreSQL use the real servers. When one is unreachable the tests are
skipped with a reason, except under CI=true, where an unreachable service fails the run.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def require(url: str, default_port: int, what: str) -> str:
    """Return the URL, or skip (fail under CI) when the service does not answer."""
    if reachable(url, default_port):
        return url
    message = f"{what} unreachable at {url}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: services are required)")
    pytest.skip(message)
    return url  # pragma: no cover


def require_redis() -> str:
    return require(TEST_REDIS_URL, 6379, "Redis")


def require_postgres() -> str:
    return require(TEST_DATABASE_URL, 5432, "PostgreSQL")
