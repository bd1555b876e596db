"""Checks of the services Lab MES depends on, for /api/health/ and the supervisor."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection


@dataclass
class Check:
    ok: bool
    detail: str
    extra: dict = field(default_factory=dict)
    # A non-critical service (e.g. the OPC UA bridge) being down degrades Lab MES but does not make
    # it unhealthy: /api/health/ still answers 200, so load balancers keep sending students to it.
    critical: bool = True

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "critical": self.critical, **self.extra}


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any driver error means "down", and we say which
        return Check(False, f"{type(exc).__name__}: {exc}".strip())
    return Check(True, connection.vendor)


def check_cache() -> Check:
    key = f"health:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=10)
        value = cache.get(key)
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        return Check(False, f"{type(exc).__name__}: {exc}".strip())
    if value != "1":
        return Check(False, "value written was not read back")
    return Check(True, settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1])


def check_task_engine() -> Check:
    engine = settings.TASK_ENGINE
    try:
        if engine == "celery":
            from mes.celery import app  # inside: the Celery app is built only when TASK_ENGINE=celery

            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return Check(True, "celery broker reachable", {"engine": engine})
        from django_q.brokers import get_broker  # inside: optional dependency (the django-q2 engine)

        broker = get_broker()
        broker.ping()
        return Check(True, "django-q ORM broker reachable", {"engine": engine, "queued": broker.queue_size()})
    except Exception as exc:  # noqa: BLE001
        return Check(False, f"{type(exc).__name__}: {exc}".strip(), {"engine": engine})


def register_check(name: str, check: Callable[[], Check], *, critical: bool = True) -> None:
    """Let an app add its own service to /api/health/ (from its AppConfig.ready()).

    A failing critical check makes the answer 503; a non-critical one only marks it degraded.
    """
    from django.apps import apps

    checks = apps.get_app_config("mes").health_checks
    if name in checks and checks[name][0] is not check:
        raise ValueError(f"health check {name!r} is registered twice")
    checks[name] = (check, critical)


def run_checks() -> dict[str, Check]:
    from django.apps import apps

    results = {"database": check_database(), "cache": check_cache(), "task_engine": check_task_engine()}
    for name, (check, critical) in apps.get_app_config("mes").health_checks.items():
        result = check()
        result.critical = critical
        results[name] = result
    return results
