"""Redis away: reads fall back to the database (stale, said so), anything else is a clear 503."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from machines.machine_types.printer_state import PrinterState, PrinterStatus
from machines.registry import get_registry
from machines.services import machine_create
from mes.api.exceptions import exception_handler
from mes.cacheerrors import CACHE_UNAVAILABLE
from tests.servers.octoprint import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_away(settings):
    """The shared cache is a Redis nobody listens on (as when redis-server is down)."""
    before = settings.CACHES

    def away() -> None:
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                "KEY_PREFIX": "mes",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
            }
        }
        with pytest.raises(CACHE_UNAVAILABLE):
            cache.get("anything")  # really away

    yield away
    settings.CACHES = before  # back before other fixtures (the registry's) clean up through the cache


def test_the_machine_list_answers_from_the_database_while_redis_is_away(
    registry, redis_away, django_user_model
):
    machine_create(name="mk4", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"})
    registry = get_registry()
    [machine] = registry.machines()
    registry.get_driver("dummy-printer").states["mk4"] = PrinterState(status=PrinterStatus.PRINTING)
    registry.poll(machine)  # persisted to the database as well as the cache
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("tech", is_staff=True))

    redis_away()
    get_registry().check_interval = 0  # the next request checks the generation (from the database)
    response = client.get("/api/machines/")
    assert response.status_code == 200, response.content
    [listed] = response.json()["results"]
    assert listed["name"] == "mk4"
    assert listed["live"]["state_source"] == "database" and listed["live"]["stale"] is True
    assert listed["live"]["status"]["code"] == machine.state.status
    detail = client.get(f"/api/machines/{machine.id}/")
    assert detail.status_code == 200 and detail.json()["live"]["state_source"] == "database"


def test_anything_else_that_needs_redis_gets_a_503_that_says_so(redis_away):
    redis_away()
    with pytest.raises(CACHE_UNAVAILABLE) as raised:
        cache.set("key", "value")
    response = exception_handler(raised.value, {})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Redis" in response.data["detail"] and response.data["code"] == "cache_unavailable"
