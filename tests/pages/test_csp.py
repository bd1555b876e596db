"""Content-Security-Policy: every page is served with a policy that allows no inline script or style,
and every page keeps to it (no inline <script>, <style>, style="" or on*="" handlers)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.contract.world import seed_world

pytestmark = pytest.mark.django_db


class InlineCode(HTMLParser):
    """Collects what a strict policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src"):
            self._in_script = attributes.get("type") not in ("application/json", "text/template")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def _inline(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def world(settings):
    settings.OUTGOING_ALLOWED_NETWORKS = []
    return seed_world()


def _pages(world) -> list[str]:
    job = world.jobs["queued"]
    machine = world.machines[0]
    return [
        "/",
        "/jobs/",
        "/jobs/live/",
        "/jobs/submit/",
        f"/jobs/{job.pk}/",
        "/fleet/",
        "/fleet/live/",
        "/dashboard/",
        "/notifications/",
        "/notifications/preferences/",
        "/accounts/password_change/",
        "/admin/",
        "/admin/machines/machineconfig/",
        f"/admin/machines/machineconfig/{machine.pk}/change/",
        "/admin/jobs/job/",
        f"/admin/jobs/job/{job.pk}/change/",
        "/admin/federation/partner/",
        "/admin/federation/partner/connect/",
        "/admin/axes/accessattempt/",
    ]


def test_the_policy_allows_no_inline_code():
    response = Client().get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


@pytest.mark.parametrize("staff", [True, False], ids=["staff", "student"])
def test_every_page_keeps_to_the_policy(world, staff):
    client = Client()
    client.force_login(world.users["staff" if staff else "student"])
    broken = {}
    pages = _pages(world)
    for url in pages:
        response = client.get(url, follow=True)
        if response.status_code == 403 and not staff:
            continue  # staff pages: students never see them
        assert response.status_code == 200, url
        assert "unsafe-inline" not in response["Content-Security-Policy"], url
        found = _inline(response.content.decode())
        if found:
            broken[url] = found
    assert broken == {}


def test_anonymous_pages_keep_to_the_policy():
    for url in ("/accounts/login/", "/accounts/password_reset/", "/admin/login/"):
        response = Client().get(url, follow=True)
        assert response.status_code == 200, url
        assert _inline(response.content.decode()) == [], url


def test_only_the_api_docs_allow_inline_styles():
    get_user_model().objects.create_user("x")
    for url in ("/api/docs/", "/api/redoc/"):
        policy = Client().get(url)["Content-Security-Policy"]
        assert "style-src 'self' 'unsafe-inline'" in policy
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        )
