"""Where the real services for tests are, and whether they answer.

Tests that need Redis or PostgreSQL use the real servers. When one is unreachable the tests are
skipped with a reason, except under CI=true, where an unreachable service fails the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of the test's own on a free loopback port (nothing on disk); yields its URL.

    For tests that flush Redis or run whole installations on it: they never touch the shared server's
    databases, so they can run in parallel with every other test (pytest-xdist).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (Debian package redis-server)"
        if in_ci():
            pytest.fail(f"{message} (CI=true: services are required)")
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not reachable(url, port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the private redis-server on port {port} did not start")
            time.sleep(0.02)  # a poll for a port to open, not a wait for an outcome
        yield url
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()
            process.wait(5)
