"""Deny by default, proven: every operation in the URL configuration, for every kind of caller.

The operations come from the URL resolver, so a new endpoint (or a new method on one) without an
entry in ``ACCESS`` fails ``test_every_operation_has_an_entry``. Each entry names who may call it; the
expected status per caller follows from that. "Allowed" writes are sent with an empty body and must
get past authentication and permissions (any answer but 401/403/404); refused callers get exactly
the status given. Every caller's request runs in a savepoint that is rolled back, so one seeded lab
serves a whole operation.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.generic import RedirectView
from rest_framework.test import APIClient

from mes.models import ApiToken
from plugins.registry import get_plugin_registry
from tests.contract.world import SCOPES, World, seed_world
from tests.federation.conftest import send

pytestmark = [pytest.mark.contract, pytest.mark.django_db]

USERS = ["student", "other", "staff"]
PARTNERS = ["partner", "stopped_partner"]
CALLERS = ["anonymous", *USERS, *(f"token:{scope}" for scope in SCOPES), *PARTNERS]
ALLOWED = "allowed"  # past authentication and permissions: anything but 401, 403, 404
# Admin screens are Django's own permission model (staff + model permissions, tested in the apps'
# admin tests); the matrix covers the admin's front door only.
SKIPPED_PREFIXES = ("admin/",)


@dataclass(frozen=True)
class Access:
    """Who may call an operation. ``area`` is the token scope area (None: any token)."""

    kind: str  # public | redirect | user | staff | staff_own | own | partner | token_owner | *page | admin
    # (*page: page | staff_page | own_page, owner or staff | owner_page, the owner alone)
    area: str | None = None
    scope: str | None = None  # partner scope for kind=partner

    def expected(self, caller: str, method: str) -> str | int:
        write = method not in ("GET", "HEAD", "OPTIONS")
        if self.kind == "public":
            return 200 if not write else ALLOWED
        if self.kind == "redirect":
            return 301
        if self.kind == "admin":
            return 200 if caller == "staff" else 302  # Django's admin sends everyone else to its login
        if self.kind in ("page", "staff_page", "own_page", "owner_page"):
            return self._page(caller)
        if self.kind == "partner":
            if caller == "partner":
                return ALLOWED
            if caller == "stopped_partner":
                return 403
            return 401  # a user's session or token is not a partner's signature
        if caller in ("anonymous", *PARTNERS):
            return 401
        if caller.startswith("token:"):  # tokens belong to a staff user
            scope = caller.removeprefix("token:")
            if self.area is None:
                return ALLOWED
            needed = {f"{self.area}:write"} if write else {f"{self.area}:read", f"{self.area}:write"}
            if scope not in needed:
                return 403
            return 404 if self.kind == "token_owner" else ALLOWED  # the URL names the student's token
        if self.kind == "staff":
            return ALLOWED if caller == "staff" else 403
        if self.kind == "staff_own":  # staff actions on a student's job: the owner is refused,
            return {"staff": ALLOWED, "student": 403}.get(caller, 404)  # others do not see it
        if self.kind == "own" and caller == "other":
            return 404  # another student's job does not exist for them
        if self.kind == "token_owner" and caller != "student":
            return 404  # only the student's own token is in the URL
        return ALLOWED

    def _page(self, caller: str) -> str | int:
        if caller not in USERS:
            return 302  # to the login page
        if self.kind == "staff_page" and caller != "staff":
            return 403
        if self.kind == "own_page" and caller == "other":
            return 404
        if self.kind == "owner_page" and caller != "student":
            return 404
        return ALLOWED


PUBLIC = Access("public")
PAGE = Access("page")
# Keyed by URL name (namespace:name) and method.
ACCESS: dict[tuple[str, str], Access] = {
    ("login", "GET"): PUBLIC,
    ("login", "POST"): PUBLIC,
    ("logout", "POST"): PUBLIC,
    ("health", "GET"): PUBLIC,
    ("schema", "GET"): PUBLIC,
    ("swagger-ui", "GET"): PUBLIC,
    ("redoc", "GET"): PUBLIC,
    ("federation-well-known", "GET"): PUBLIC,
    ("favicon.ico", "GET"): Access("redirect"),
    ("me", "GET"): Access("user", "account"),
    ("api-token-list", "GET"): Access("user", "account"),
    ("api-token-detail", "DELETE"): Access("token_owner", "account"),
    ("machine-types", "GET"): Access("user", "machines"),
    ("machine-drivers", "GET"): Access("user", "machines"),
    ("machine-registry", "GET"): Access("user", "machines"),
    ("machine-list", "GET"): Access("user", "machines"),
    ("machine-list", "POST"): Access("staff", "machines"),
    ("machine-detail", "GET"): Access("user", "machines"),
    ("machine-detail", "PUT"): Access("staff", "machines"),
    ("machine-detail", "PATCH"): Access("staff", "machines"),
    ("machine-detail", "DELETE"): Access("staff", "machines"),
    ("machine-machine-settings", "GET"): Access("user", "machines"),
    ("machine-machine-settings", "PATCH"): Access("staff", "machines"),
    ("machine-restart", "POST"): Access("staff", "machines"),
    ("machine-bulk", "POST"): Access("staff", "machines"),
    ("plugin-list", "GET"): Access("user", "plugins"),
    ("plugin-activate", "POST"): Access("staff", "plugins"),
    ("plugin-deactivate", "POST"): Access("staff", "plugins"),
    ("plugin-settings", "GET"): Access("user", "plugins"),
    ("plugin-settings", "PATCH"): Access("staff", "plugins"),
    ("federation:identity", "GET"): Access("staff", "federation"),
    ("federation:connection-request", "POST"): PUBLIC,  # signed by the requester, checked inside
    ("federation:machines", "GET"): Access("partner", scope="machines:read"),
    ("federation:stats", "GET"): Access("partner", scope="stats:read"),
    ("federation:job", "GET"): Access("partner", scope="jobs:read"),
    ("federation:job", "PUT"): Access("partner", scope="jobs:submit"),
    ("federation:job-cancel", "POST"): Access("partner", scope="jobs:submit"),
    ("federation:inbox", "POST"): Access("partner"),
    **{
        (f"federation:federation-{name}", method): Access("staff", "federation")
        for name, method in [
            ("partner-list", "GET"),
            ("partner-connect", "POST"),
            ("partner-detail", "GET"),
            ("partner-approve", "POST"),
            ("partner-reject", "POST"),
            ("partner-stop", "POST"),
            ("invitation-list", "GET"),
            ("invitation-list", "POST"),
            ("invitation-detail", "GET"),
            ("invitation-detail", "DELETE"),
            ("forwarded-job-list", "GET"),
            ("forwarded-job-forward", "POST"),
            ("forwarded-job-detail", "GET"),
            ("forwarded-job-cancel", "POST"),
            ("incoming-job-list", "GET"),
            ("incoming-job-detail", "GET"),
            ("incoming-job-accept", "POST"),
            ("incoming-job-reject", "POST"),
            ("event-list", "GET"),
            ("event-deliver", "POST"),
            ("event-detail", "GET"),
        ]
    },
    ("job-queue", "GET"): Access("user", "jobs"),
    **{
        (f"job-queue-{name}", "POST"): Access("staff", "jobs")
        for name in ("move", "clear", "start", "stop", "stop-cancel", "lock", "unlock")
    },
    ("job-queue-remove", "POST"): Access("user", "jobs"),  # students remove their own jobs
    ("job-history", "GET"): Access("user", "jobs"),
    # Staff, or the owner of the machine's last job (nobody's here): the service checks who.
    ("job-machine-bed-cleared", "POST"): Access("staff", "jobs"),
    ("job-list", "GET"): Access("user", "jobs"),
    ("job-list", "POST"): Access("user", "jobs"),
    ("job-batch", "POST"): Access("user", "jobs"),
    ("job-preflight", "POST"): Access("user", "jobs"),
    ("job-detail", "GET"): Access("own", "jobs"),
    ("job-detail", "PATCH"): Access("own", "jobs"),
    ("job-detail", "DELETE"): Access("own", "jobs"),
    ("job-approve", "POST"): Access("staff_own", "jobs"),
    ("job-cancel", "POST"): Access("own", "jobs"),
    ("job-events", "GET"): Access("own", "jobs"),
    ("job-move", "POST"): Access("staff_own", "jobs"),
    ("job-pause", "POST"): Access("own", "jobs"),
    ("job-resume", "POST"): Access("own", "jobs"),
    **{
        (name, method): Access("staff", "webhooks")
        for name, method in [
            ("webhook-endpoint-list", "GET"),
            ("webhook-endpoint-list", "POST"),
            ("webhook-endpoint-detail", "GET"),
            ("webhook-endpoint-detail", "PUT"),
            ("webhook-endpoint-detail", "PATCH"),
            ("webhook-endpoint-detail", "DELETE"),
            ("webhook-delivery-list", "GET"),
            ("webhook-delivery-detail", "GET"),
            ("webhook-delivery-redeliver", "POST"),
        ]
    },
    # Operator controls and the fleet board's control form: staff only.
    ("machine-controls", "GET"): Access("staff", "machines"),
    ("machine-control", "POST"): Access("staff", "machines"),
    ("fleet:control", "POST"): Access("staff_page"),
    ("fleet:maintenance", "POST"): Access("staff_page"),
    # Materials and maintenance: everyone logged in reads, staff change.
    ("machine-maintenance-detail", "GET"): Access("user", "maintenance"),
    **{
        (f"machine-maintenance-{name}", "POST"): Access("staff", "maintenance")
        for name in ("start", "end", "complete")
    },
    ("machine-maintenance-out-of-order", "POST"): Access("staff", "maintenance"),
    ("maintenance-plan-list", "GET"): Access("user", "maintenance"),
    ("maintenance-plan-list", "POST"): Access("staff", "maintenance"),
    ("maintenance-plan-detail", "GET"): Access("user", "maintenance"),
    **{("maintenance-plan-detail", m): Access("staff", "maintenance") for m in ("PUT", "PATCH", "DELETE")},
    ("maintenance-record-list", "GET"): Access("user", "maintenance"),
    ("out-of-order-report-list", "GET"): Access("user", "maintenance"),
    ("out-of-order-report-detail", "GET"): Access("user", "maintenance"),
    ("out-of-order-report-resolve", "POST"): Access("staff", "maintenance"),
    ("material-loaded", "GET"): Access("user", "materials"),
    ("material-stock", "GET"): Access("user", "materials"),
    ("material-type-list", "GET"): Access("user", "materials"),
    ("material-type-list", "POST"): Access("staff", "materials"),
    ("material-type-detail", "GET"): Access("user", "materials"),
    **{("material-type-detail", m): Access("staff", "materials") for m in ("PUT", "PATCH", "DELETE")},
    ("spool-list", "GET"): Access("user", "materials"),
    ("spool-list", "POST"): Access("staff", "materials"),
    ("spool-detail", "GET"): Access("user", "materials"),
    **{("spool-detail", m): Access("staff", "materials") for m in ("PUT", "PATCH", "DELETE")},
    ("spool-history", "GET"): Access("user", "materials"),
    ("spool-import-csv", "POST"): Access("staff", "materials"),
    ("spool-load", "POST"): Access("staff", "materials"),
    ("spool-unload", "POST"): Access("staff", "materials"),
    ("spool-deduction-list", "GET"): Access("user", "materials"),
    # Lab policies: everyone logged in reads trainings, hours, closures and which machines run
    # unattended; students read their own training records and quotas left; staff change them all.
    ("policy-me", "GET"): Access("user", "policies"),
    **{
        (f"policy-{name}-list", method): Access("user" if method == "GET" else "staff", "policies")
        for name in ("training", "requirement", "record", "hours", "closure")
        for method in ("GET", "POST")
    },
    **{
        (f"policy-{name}-detail", method): Access("user" if method == "GET" else "staff", "policies")
        for name in ("training", "requirement", "hours", "closure")
        for method in ("GET", "PUT", "PATCH", "DELETE")
    },
    ("policy-record-detail", "GET"): Access("own", "policies"),  # the student's own record
    **{("policy-record-detail", m): Access("staff", "policies") for m in ("PUT", "PATCH", "DELETE")},
    ("policy-record-import-csv", "POST"): Access("staff", "policies"),
    **{("policy-quota-list", m): Access("staff", "policies") for m in ("GET", "POST")},
    **{("policy-quota-detail", m): Access("staff", "policies") for m in ("GET", "PUT", "PATCH", "DELETE")},
    ("policy-override-list", "GET"): Access("staff", "policies"),
    ("policy-override-list", "POST"): Access("staff", "policies"),
    **{("policy-override-detail", m): Access("staff", "policies") for m in ("GET", "PUT", "PATCH", "DELETE")},
    ("policy-machine-list", "GET"): Access("user", "policies"),
    ("policy-machine-detail", "GET"): Access("user", "policies"),
    **{("policy-machine-detail", m): Access("staff", "policies") for m in ("PUT", "PATCH")},
    # Notifications: each user's own.
    ("notification-list", "GET"): Access("user", "notifications"),
    ("notification-read", "POST"): Access("user", "notifications"),
    ("notification-preferences", "GET"): Access("user", "notifications"),
    ("notification-preferences", "PUT"): Access("user", "notifications"),
    ("notifications:list", "GET"): PAGE,
    ("notifications:badge", "GET"): PAGE,
    ("notifications:mark-read", "GET"): PAGE,
    ("notifications:preferences", "GET"): PAGE,
    # Prometheus: by client network (loopback here) or METRICS_TOKEN, not by user.
    ("metrics", "GET"): PUBLIC,
    # Password change needs a login; password reset is for people who cannot log in.
    ("password_change", "GET"): PAGE,
    ("password_change", "POST"): PAGE,
    ("password_change_done", "GET"): PAGE,
    ("password_reset", "GET"): PUBLIC,
    ("password_reset", "POST"): PUBLIC,
    ("password_reset", "PUT"): PUBLIC,
    ("password_reset_done", "GET"): PUBLIC,
    ("password_reset_confirm", "GET"): PUBLIC,
    ("password_reset_confirm", "POST"): PUBLIC,
    ("password_reset_complete", "GET"): PUBLIC,
    ("jobs:detail", "GET"): Access("own_page"),
    ("jobs:detail-fragment", "GET"): Access("own_page"),  # the job page's live part
    ("jobs:thumbnail", "GET"): Access("own_page"),  # the slicer's picture (404 without one)
    ("home", "GET"): PAGE,
    ("jobs:list", "GET"): PAGE,
    ("jobs:list-fragment", "GET"): PAGE,
    ("jobs:submit", "GET"): PAGE,
    ("jobs:submit", "POST"): PAGE,
    # The submit page's previews: the owner's only (another user, staff too, gets 404).
    ("jobs:preview-confirm", "POST"): PAGE,  # the ids are in the body: an empty one is a 400
    ("jobs:preview-cancel", "POST"): Access("owner_page"),
    ("jobs:preview-thumbnail", "GET"): Access("owner_page"),
    ("jobs:pause", "POST"): Access("own_page"),
    ("jobs:resume", "POST"): Access("own_page"),
    ("jobs:cancel", "POST"): Access("own_page"),
    ("jobs:bed-cleared", "POST"): Access("staff_page"),  # or the last job's owner (nobody here)
    ("board:index", "GET"): PUBLIC,  # the hallway ETA board: first names only
    ("board:fragment", "GET"): PUBLIC,
    ("fleet:board", "GET"): PAGE,  # students see which printers are free
    ("fleet:fragment", "GET"): PAGE,
    ("fleet:bed-cleared", "POST"): Access("staff_page"),
    ("machine:detail", "GET"): Access("staff_page"),  # a machine's page
    ("machine:fragment", "GET"): Access("staff_page"),
    # The camera picture: staff, or the owner of the job on the machine (the student's is; 404 for others).
    ("machine:camera", "GET"): Access("own_page"),
    ("dashboard:page", "GET"): Access("staff_page"),  # the staff dashboard, and its CSV
    ("admin:index", "GET"): Access("admin"),
}


def _methods(pattern: URLPattern) -> list[str]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:
        # Not HEAD: DRF adds it to a viewset's actions on the route's first GET, so it would depend on
        # which tests ran before in this process (HEAD is GET's, like the class-based views below).
        return sorted(method.upper() for method in actions if method != "head")
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        if issubclass(cls, RedirectView):
            return ["GET"]
        names = [m for m in cls.http_method_names if m not in ("options", "head") and hasattr(cls, m)]
        if "get" in names and "post" in names and cls.__module__.startswith("django.contrib.auth"):
            return ["GET", "POST"]
        return sorted(m.upper() for m in names)
    declared = re.findall(r"require_(GET|POST)", getattr(callback, "__qualname__", ""))
    return declared or _function_view_methods(callback)


def _function_view_methods(callback) -> list[str]:
    """Function views declare their methods with require_GET/require_POST (or accept both)."""
    closure = [c.cell_contents for c in (callback.__closure__ or ()) if isinstance(c.cell_contents, list)]
    for contents in closure:
        if contents and all(isinstance(m, str) for m in contents):
            return sorted(m.upper() for m in contents)
    return ["GET", "POST"] if callback.__name__ in ("job_submit",) else ["GET"]


def operations() -> list[tuple[str, str, str]]:
    """(url name, method, route) for every operation the project serves."""
    found = []

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace
                walk(entry, prefix + str(entry.pattern), inner or namespace)
                continue
            route = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or route)
            if route.startswith(SKIPPED_PREFIXES) and name != "admin:index":
                continue
            found.extend((name, method, route) for method in _methods(entry))

    walk(get_resolver(), "", "")
    return sorted(set(found))


def test_every_operation_has_an_entry():
    missing = [
        f"{name} {method} ({route})" for name, method, route in operations() if (name, method) not in ACCESS
    ]
    assert missing == [], "add these operations to ACCESS with who may call them"
    stale = sorted(set(ACCESS) - {(name, method) for name, method, _ in operations()})
    assert stale == [], "these ACCESS entries name no operation any more"


def _path_for(name: str, route: str, world: World) -> str:
    values = {
        "pk": lambda: _pk_for(name, world),
        "slug": lambda: next(iter(get_plugin_registry().plugins)),
        "prefix": lambda: ApiToken.objects.get(user=world.users["student"], name="all").prefix,
        "origin_job_id": lambda: str(_incoming(world).origin_job_id),
        "machine_id": lambda: str(world.machines[0].pk),
        "control": lambda: "home",
        "action": lambda: "start",
        "uidb64": lambda: "MQ",
        "token": lambda: "not-a-token",
    }
    path = "/" + route.replace("^", "").replace("$", "").replace("\\", "")
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)](), path)
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)](), path)


def _incoming(world: World):
    from federation.models import IncomingJob

    return IncomingJob.objects.get(pk=world.incoming_id)


def _pk_for(name: str, world: World) -> str:
    if name.startswith("jobs:preview-"):
        return str(world.extra_pks["jobs:preview"])
    if name.startswith(("job-", "jobs:")):
        return str(world.jobs["queued"].pk)
    if name.startswith("machine-"):
        return str(world.machines[0].pk)
    for prefix, pk in world.extra_pks.items():
        if name.startswith(prefix):
            return str(pk)
    table = {
        "partner": world.partners["approved"].pk,
        "invitation": world.invitation_id,
        "forwarded-job": world.forwarded_id,
        "incoming-job": world.incoming_id,
        "event": world.event_id,
        "webhook-endpoint": world.webhook_endpoint_id,
        "webhook-delivery": world.webhook_delivery_id,
    }
    for key, value in table.items():
        if f"-{key}-" in f"-{name.split(':')[-1].removeprefix('federation-')}-":
            return str(value)
    raise AssertionError(f"no object for {name}")


def _call(world: World, caller: str, method: str, path: str):
    if caller in PARTNERS:
        lab = world.labs["approved" if caller == "partner" else "stopped"]
        data, headers = lab.signed(method, path, body={} if method in ("POST", "PUT") else None)
        return send(Client(), method, path, data, headers)
    client = APIClient()
    if caller in USERS:
        client.force_login(world.users[caller])
    elif caller.startswith("token:"):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[caller.removeprefix('token:')]}")
    return client.generic(method, path, data="{}" if method != "GET" else "", content_type="application/json")


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """One seeded lab for the whole module, inside a transaction rolled back at the end; each test
    (pytest-django's own savepoint) and each caller's request (ours) roll back inside it."""
    media = tmp_path_factory.mktemp("matrix-media")
    with django_db_blocker.unblock(), override_settings(OUTGOING_ALLOWED_NETWORKS=[], MEDIA_ROOT=media):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield seed_world(scope_tokens=True), media
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(seeded, db, settings):
    world, media = seeded
    shutil.copytree(media, settings.MEDIA_ROOT, dirs_exist_ok=True)  # each test has its own media root
    settings.OUTGOING_ALLOWED_NETWORKS = []
    return world


@pytest.mark.parametrize(("name", "method", "route"), operations())
def test_who_may_call(world, name, method, route):
    access = ACCESS[(name, method)]
    path = _path_for(name, route, world)
    wrong = []
    for caller in CALLERS:
        expected = access.expected(caller, method)
        with transaction.atomic():
            response = _call(world, caller, method, path)
            transaction.set_rollback(True)
        status = response.status_code
        ok = status not in (401, 403, 404) if expected == ALLOWED else status == expected
        if not ok:
            wrong.append(f"{caller}: expected {expected}, got {status} {response.content[:160]!r}")
    assert wrong == [], f"{method} {path}"
