"""Migrated databases for the tests that run Lab MES in real processes: one ``manage.py migrate`` per
test process and database kind, then copies.

Running every migration from scratch for each installation a test starts cost 4-5 s of CPU each time
(about twenty times per run). A copy is what ``manage.py migrate`` made, from this checkout's
migrations, in this same run: an embedded installation gets a copy of a migrated SQLite file (SQLite's
backup API), a production-like one a PostgreSQL database created from a migrated template
(``CREATE DATABASE ... TEMPLATE``). The templates are dropped when the test process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
# What must not leak from the test run into an installation a test starts (or a template's `migrate`).
# Its metrics samples belong in its own var/prometheus, not among the test process's.
SERVICE_VARS = {
    "DATABASE_URL",
    "REDIS_URL",
    "TASK_ENGINE",
    "CELERY_BROKER_URL",
    "MEDIA_ROOT",
    "PROMETHEUS_MULTIPROC_DIR",
}

_sqlite_template: Path | None = None
_postgres_templates: dict[str, str] = {}  # server URL -> template database name


def _migrate(var_dir: Path, **env: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    environ.update(MES_VAR_DIR=str(var_dir), MES_ENV_FILE="/dev/null", **env)
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py migrate failed:\n{result.stderr}"


def migrated_sqlite(var_dir: Path) -> Path:
    """Put a migrated ``db.sqlite3`` into ``var_dir`` (an installation's ``MES_VAR_DIR``)."""
    global _sqlite_template
    if _sqlite_template is None:
        template_dir = Path(tempfile.mkdtemp(prefix="mes-migrated-sqlite-"))
        _migrate(template_dir)
        _sqlite_template = template_dir / "db.sqlite3"
    var_dir.mkdir(parents=True, exist_ok=True)
    target = var_dir / "db.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(_sqlite_template)) as source,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
    return target


def _admin_url(server_url: str) -> str:
    parsed = urlparse(server_url)
    return f"postgresql://{parsed.netloc}/postgres"


def _postgres_template(server_url: str) -> str:
    import psycopg

    name = _postgres_templates.get(server_url)
    if name is None:
        name = f"mes_migrated_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(_admin_url(server_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        atexit.register(_drop, server_url, name)
        scratch = Path(tempfile.mkdtemp(prefix="mes-migrated-postgres-"))  # its secret key, nothing else
        _migrate(scratch, DATABASE_URL=f"postgres://{urlparse(server_url).netloc}/{name}")
        _postgres_templates[server_url] = name
    return name


def _drop(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def migrated_postgres(server_url: str) -> Iterator[str]:
    """A new, migrated database on the server of ``server_url``; dropped afterwards (even if in use)."""
    import psycopg

    template = _postgres_template(server_url)
    name = f"fault_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"postgres://{urlparse(server_url).netloc}/{name}"
    finally:
        _drop(server_url, name)
