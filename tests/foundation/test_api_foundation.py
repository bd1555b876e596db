"""Authentication, API tokens, health and the published schema."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from mes.models import ApiToken
from mes.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("student", password="pw-123456!")


@pytest.fixture
def client():
    return APIClient()


def test_health_reports_every_service(client):
    response = client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "cache", "task_engine", "opcua"} <= set(body["checks"])
    assert body["checks"]["opcua"]["detail"] == "not configured"
    assert all(check["ok"] for check in body["checks"].values())


def test_health_names_what_is_down(client):
    dead_cache = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    with override_settings(CACHES=dead_cache):  # Django resets its cache handles on this override
        response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["cache"]
    assert "onnection" in body["checks"]["cache"]["detail"]


def test_schema_and_docs_are_public(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"Lab MES API" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_the_schema_describes_every_endpoint_without_warnings(tmp_path):
    """An endpoint drf-spectacular cannot describe is left out of the schema partner labs build on."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/machines/types/", "/api/machines/drivers/", "/api/plugins/"):
        assert f"  {path}:" in schema, path


def test_anonymous_callers_cannot_read_or_write(client):
    for method, url in [("get", "/api/me/"), ("get", "/api/tokens/"), ("delete", "/api/tokens/abc/")]:
        response = getattr(client, method)(url)
        assert response.status_code in (401, 403), url


def test_token_is_stored_hashed_and_authenticates(client, user):
    token, raw = api_token_create(user=user, name="script", scopes=["account:read"])
    assert raw not in {token.prefix, token.digest}
    assert not ApiToken.objects.filter(digest=raw).exists()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {
        "username": "student",
        "is_staff": False,
        "auth": "token",
        "scopes": ["account:read"],
    }
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("mutate", ["wrong_secret", "expired", "revoked", "garbage"])
def test_bad_tokens_are_refused_with_a_reason(client, user, mutate):
    token, raw = api_token_create(user=user, name="script", scopes=["*"])
    if mutate == "wrong_secret":
        raw = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
        reason = "Invalid API token."
    elif mutate == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        reason = "expired"
    elif mutate == "revoked":
        api_token_revoke(token=token)
        reason = "revoked"
    else:
        raw = "not-a-token"
        reason = "Invalid API token."
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert reason in response.json()["detail"]


def test_token_scopes_are_enforced(client, user):
    token, raw = api_token_create(user=user, name="reader", scopes=["account:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/tokens/").json()["results"][0]["prefix"] == token.prefix
    response = client.delete(f"/api/tokens/{token.prefix}/")
    assert response.status_code == 403
    assert "account:write" in response.json()["detail"]
    token.refresh_from_db()
    assert token.revoked_at is None


def test_users_revoke_only_their_own_tokens(client, user):
    other = get_user_model().objects.create_user("other", password="pw-123456!")
    mine, raw = api_token_create(user=user, name="mine", scopes=["account:write"])
    theirs, _ = api_token_create(user=other, name="theirs", scopes=["*"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.delete(f"/api/tokens/{theirs.prefix}/").status_code == 404
    assert client.delete(f"/api/tokens/{mine.prefix}/").status_code == 204
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert client.get("/api/me/").status_code == 401


def test_write_scope_implies_read():
    token = ApiToken(scopes=["machines:write"])
    assert token.allows("machines:read")
    assert not token.allows("jobs:read")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scopes": ["root"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["*"], "expires_at": timezone.now() - timedelta(days=1)}, "expires_at"),
        ({"scopes": ["*"], "expires_at": timezone.now() + timedelta(days=800)}, "expires_at"),
    ],
)
def test_token_creation_validates(user, kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        api_token_create(user=user, name="x", **kwargs)
    assert field in excinfo.value.message_dict
    assert not ApiToken.objects.exists()


def test_create_api_token_command_prints_a_working_token_once(user):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_token",
        "--user",
        "student",
        "--scope",
        "jobs:write",
        "--days",
        "7",
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert raw.startswith(f"mes_{token.prefix}_")
    assert token.scopes == ["jobs:write"]
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert "only once" in err.getvalue()


def test_create_api_token_command_rejects_unknown_user_and_scope(user):
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "--user", "nobody", "--scope", "jobs:read")
    with pytest.raises(CommandError, match="Unknown scopes"):
        call_command("create_api_token", "--user", "student", "--scope", "everything")
    assert not ApiToken.objects.exists()


def test_admin_is_titled_for_lab_mes():
    client = Client()
    admin = get_user_model().objects.create_superuser("boss", "", "pw-123456!")
    client.force_login(admin)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Lab MES administration" in response.content


def test_admin_creates_a_token_and_shows_it_once():
    client = Client()
    admin = get_user_model().objects.create_superuser("boss", "", "pw-123456!")
    client.force_login(admin)
    expires = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d")
    response = client.post(
        "/admin/mes/apitoken/add/",
        {
            "user": admin.pk,
            "name": "ci",
            "scopes": ["jobs:read"],
            "expires_at_0": expires,
            "expires_at_1": "12:00:00",
        },
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    assert any(f"mes_{token.prefix}_" in m for m in shown)
