"""Turn environment variables into validated settings values.

Kept apart from ``settings.py`` so that every check raises ``ImproperlyConfigured`` with one line that
names the variable, which ``manage.py`` and the WSGI entry point print without a traceback.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
TASK_ENGINES = {"django-q", "celery"}
PROCESS_ROLES = {"standalone", "web", "worker", "beat", "poller", "opcua", "simulator"}


def database_config(url: str | None, *, default_sqlite_path: Path) -> dict:
    """Return a Django DATABASES entry for DATABASE_URL, or the embedded SQLite database."""
    if not url:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite_path)}
    else:
        scheme = urlparse(url).scheme
        if scheme not in DATABASE_SCHEMES:
            raise ImproperlyConfigured(
                f"DATABASE_URL has unsupported scheme {scheme or url!r}; "
                "use postgres://user@host:5432/name or sqlite:////absolute/path.sqlite3"
            )
        try:
            config = environ.Env.db_url_config(url)
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(f"DATABASE_URL could not be parsed: {exc}") from exc
        if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
            raise ImproperlyConfigured("DATABASE_URL names no database (postgres://host:5432/<name>)")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web server, workers and the supervisor read while one of them writes;
        # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        config.setdefault("CONN_MAX_AGE", 60)
        config.setdefault("CONN_HEALTH_CHECKS", True)
    return config


def cache_config(redis_url: str | None) -> dict:
    """Redis when REDIS_URL is set, otherwise a database cache that every local process shares."""
    if redis_url:
        if urlparse(redis_url).scheme not in {"redis", "rediss", "unix"}:
            raise ImproperlyConfigured(f"REDIS_URL must start with redis:// or rediss://, got {redis_url!r}")
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "mes",
            "TIMEOUT": None,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "mes_cache",
        "KEY_PREFIX": "mes",
        "TIMEOUT": None,
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }


def task_engine(value: str, *, redis_url: str | None) -> str:
    if value not in TASK_ENGINES:
        raise ImproperlyConfigured(f"TASK_ENGINE must be one of {sorted(TASK_ENGINES)}, got {value!r}")
    if value == "celery" and not redis_url:
        raise ImproperlyConfigured("TASK_ENGINE=celery needs REDIS_URL for its broker")
    return value


def secret_key(value: str | None, *, debug: bool, key_file: Path) -> str:
    """Production must pass SECRET_KEY; the embedded default makes one once and keeps it in var/."""
    if value:
        return value
    if not debug:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=false")
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def allowed_hosts(value: list[str], *, debug: bool) -> list[str]:
    if value:
        return value
    if not debug:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=false (comma-separated host names)")
    return ["localhost", "127.0.0.1", "[::1]", "testserver"]


def process_role(value: str) -> str:
    if value not in PROCESS_ROLES:
        raise ImproperlyConfigured(f"MES_PROCESS_ROLE must be one of {sorted(PROCESS_ROLES)}, got {value!r}")
    return value
