"""API writes are limited per token (then per user): a flood gets 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from mes import config
from mes.services import api_token_create

pytestmark = pytest.mark.django_db


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_writes_are_limited_per_token_and_reads_are_not(settings):
    settings.API_WRITE_RATE = "3/minute"
    user = get_user_model().objects.create_user("staff", is_staff=True)
    first = _client(api_token_create(user=user, name="a", scopes=["*"])[1])
    second = _client(api_token_create(user=user, name="b", scopes=["*"])[1])
    for _ in range(3):
        assert first.post("/api/jobs/queue/stop/").status_code == 200
    refused = first.post("/api/jobs/queue/start/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert "Expected available in" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    assert first.get("/api/jobs/queue/").status_code == 200
    assert second.post("/api/jobs/queue/start/").status_code == 200


def test_the_rate_setting_is_checked(monkeypatch):
    env = config.environ.Env()
    monkeypatch.setenv("API_WRITE_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="API_WRITE_RATE='lots' is not a rate"):
        config.rate(env, "API_WRITE_RATE", default="300/minute")
    monkeypatch.setenv("API_WRITE_RATE", "")
    assert config.rate(env, "API_WRITE_RATE", default="300/minute") == ""
