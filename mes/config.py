"""Turn environment variables into validated settings values.

Kept apart from ``settings.py`` so that every check raises ``ImproperlyConfigured`` with one line that
names the variable. ``exit_on_configuration_error`` prints that line to stderr without a traceback
and exits with status 2 (4 inside gunicorn, its "App failed to load" status, so the master stops
rather than respawning workers). ``manage.py``, ``mes.wsgi`` (gunicorn) and ``mes.celery`` (Celery
worker and beat) run under it; ``mes.asgi`` does not.
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

from mes.outgoing import parse_networks

DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
TASK_ENGINES = {"django-q", "celery"}
PROCESS_ROLES = {"standalone", "web", "worker", "beat", "poller", "opcua", "simulator"}
# django-environ's true spellings and their opposites; anything else (DEBUG=maybe) is a mistake.
TRUE_WORDS = {"true", "on", "ok", "y", "yes", "1"}
FALSE_WORDS = {"false", "off", "n", "no", "0"}
EXIT_STATUS = 2  # what manage.py has always exited with on a configuration error
# gunicorn's "App failed to load" status halts the master; a worker exiting 2 is respawned forever.
GUNICORN_APP_LOAD_ERROR = 4


@contextmanager
def exit_on_configuration_error() -> Iterator[None]:
    """Configuration mistakes are the operator's to fix: one line on stderr, no traceback."""
    try:
        yield
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"Lab MES configuration error: {exc}\n")
        sys.stderr.flush()
        sys.exit(GUNICORN_APP_LOAD_ERROR if "gunicorn.arbiter" in sys.modules else EXIT_STATUS)


def _raw(env: environ.Env, name: str) -> str | None:
    """None when unset. Set but empty is kept: DEBUG= is ambiguous, so it must not mean the default."""
    if name not in env.ENVIRON:
        return None
    return env.str(name)


def boolean(env: environ.Env, name: str, *, default: bool) -> bool:
    """Unlike ``env.bool``, a typo such as DEBUG=flase is an error rather than silently false."""
    raw = _raw(env, name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not true or false (use true/false, yes/no, on/off or 1/0)")


def choice(env: environ.Env, name: str, *, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``; anything else stops the process naming the allowed values."""
    raw = _raw(env, name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return value


def whole_number(env: environ.Env, name: str, *, default: int, minimum: int = 0) -> int:
    """An integer setting; ``env.int`` would raise a bare ValueError that hides the variable's name."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a whole number of at least {minimum}")
    return value


def positive_number(env: environ.Env, name: str, *, default: float) -> float:
    """A duration in seconds: zero, negative, inf or nan would mean busy loops or no timeout at all."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number greater than 0")
    return value


def networks(env: environ.Env, name: str, *, default: list[str] | None = None) -> list[str]:
    """Comma-separated CIDRs (``10.0.0.0/8,127.0.0.0/8``); a typo stops the process naming the entry."""
    raw = _raw(env, name)
    if raw is None:
        return list(default or [])
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    try:
        parse_networks(entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    return entries


RATE_RE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


def rate(env: environ.Env, name: str, *, default: str) -> str:
    """A DRF throttle rate such as ``300/minute``; empty means no limit."""
    raw = _raw(env, name)
    value = default if raw is None else raw.strip()
    if value and not RATE_RE.match(value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate such as 300/minute (or empty: no limit)")
    return value


def bind_is_loopback(bind: str) -> bool:
    """``127.0.0.1:8000``, ``localhost:8000``, ``[::1]:8000`` and unix sockets stay on this machine."""
    if bind.startswith(("unix:", "fd://")):
        return True
    host = bind.rsplit(":", 1)[0] if bind.count(":") == 1 or bind.startswith("[") else bind
    host = host.strip("[]") or "0.0.0.0"
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def refuse_debug(*, debug: bool, binds: list[str], production: bool = False) -> None:
    """DEBUG pages show settings, code and SQL to whoever can reach them: only the local demo may
    have them. Called by every process that serves HTTP (gunicorn, runserver, manage.py up)."""
    if not debug:
        return
    public = [bind for bind in binds if not bind_is_loopback(bind)]
    if production or public:
        where = "under manage.py up --production" if production else f"on {', '.join(public)}"
        raise ImproperlyConfigured(
            f"DEBUG=true refused {where}: debug pages would show settings and code to anyone who can "
            "reach it. Set DEBUG=false (with SECRET_KEY and ALLOWED_HOSTS), or bind 127.0.0.1 for a demo."
        )


def gunicorn_binds(argv: list[str], cmd_args: str = "") -> list[str]:
    """The addresses a gunicorn command line binds (gunicorn's default is 127.0.0.1:8000)."""
    words = [*cmd_args.split(), *argv]
    binds = []
    for index, word in enumerate(words):
        if word in ("-b", "--bind") and index + 1 < len(words):
            binds.append(words[index + 1])
        elif word.startswith("--bind="):
            binds.append(word.split("=", 1)[1])
        elif word.startswith("-b") and len(word) > 2:
            binds.append(word[2:])
    return binds or ["127.0.0.1:8000"]


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


OIDC_REQUIRED = (
    "OIDC_RP_CLIENT_ID",
    "OIDC_RP_CLIENT_SECRET",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
)


def oidc_settings(env: environ.Env) -> dict[str, str]:
    """The identity provider's client and endpoints; single sign-on on with one missing is a mistake."""
    missing = [name for name in OIDC_REQUIRED if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(f"OIDC_ENABLED=true needs {', '.join(missing)}")
    values = {name: env.str(name) for name in OIDC_REQUIRED}
    for name in OIDC_REQUIRED[2:]:
        if urlparse(values[name]).scheme not in {"https", "http"}:
            raise ImproperlyConfigured(f"{name}={values[name]!r} is not an http(s) URL")
    return values


def preheat_presets(env: environ.Env, name: str, *, default: str) -> dict[str, tuple[float, float]]:
    """``PLA=215/60,PETG=240/80``: material = nozzle/bed °C, for the machines' preheat control."""
    raw = env.str(name, default=default)
    presets: dict[str, tuple[float, float]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        material, _, temps = item.partition("=")
        tool, _, bed = temps.partition("/")
        try:
            values = (float(tool), float(bed))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not MATERIAL=NOZZLE/BED in °C, e.g. PLA=215/60"
            ) from None
        if not material.strip() or not all(0 <= v <= 500 for v in values):
            raise ImproperlyConfigured(f"{name}: {item!r} needs a material and temperatures of 0-500 °C")
        presets[material.strip().upper()] = values
    return presets


def periodic_intervals(env: environ.Env, name: str) -> dict[str, float]:
    """``jobs.reconcile-sweep=10,events.dispatch=2``: seconds for named periodic tasks (the rest keep
    the interval their app declares). Names are checked against the schedule once the apps are ready."""
    intervals: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in env.str(name, default="").split(","))):
        task, _, seconds = item.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = math.nan
        if not task.strip() or not math.isfinite(value) or value <= 0:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not NAME=SECONDS with seconds greater than 0, e.g. jobs.reconcile-sweep=10"
            )
        intervals[task.strip()] = value
    return intervals
