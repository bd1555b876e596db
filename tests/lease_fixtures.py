"""Lease stores for tests: the database one and a real Redis one with its own key prefix."""

from __future__ import annotations

import pytest
import redis

from mes.leases import DatabaseLeaseStore, RedisLeaseStore, new_owner_id
from tests.services import require_redis


@pytest.fixture(params=["database", "redis"])
def lease_store(request):
    """Each test runs against both stores (the Redis one is skipped when Redis is unreachable)."""
    if request.param == "database":
        yield DatabaseLeaseStore()
        return
    client = redis.Redis.from_url(require_redis())
    prefix = f"test:lease:{new_owner_id('t')}:"
    yield RedisLeaseStore(client, prefix=prefix)
    keys = client.keys(prefix + "*")
    if keys:
        client.delete(*keys)
