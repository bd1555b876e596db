"""Expiring ownership leases: at most one process talks to a machine at a time.

A lease is held by an owner id until it expires; the holder renews it well before then. A process
that dies simply stops renewing, and another takes the lease over within one lease period. Redis is
used when REDIS_URL is set (atomic Lua scripts); the embedded default keeps leases in the database.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mes.models import Lease


def new_owner_id(role: str) -> str:
    """Unique per process start, readable in logs: host, pid and a random suffix."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseStore(Protocol):
    def acquire_many(self, keys: Iterable[str], *, owner: str, ttl: float) -> set[str]:
        """Take or renew every lease in ``keys`` that is free, expired or already ours; return those held."""
        ...

    def release_many(self, keys: Iterable[str], *, owner: str) -> None: ...

    def holders(self, keys: Iterable[str]) -> dict[str, str]:
        """Current, unexpired holders of the given keys (keys without a holder are left out)."""
        ...

    def holders_with_prefix(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose key starts with ``prefix`` (meant for small sets, e.g. live pollers)."""
        ...


# KEYS[1] = lease key, ARGV[1] = owner, ARGV[2] = ttl in ms. Returns 1 when the caller holds the lease.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeaseStore:
    def __init__(self, client, *, prefix: str = "mes:lease:") -> None:
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def acquire_many(self, keys: Iterable[str], *, owner: str, ttl: float) -> set[str]:
        keys = list(keys)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            self._acquire(keys=[self.prefix + key], args=[owner, int(ttl * 1000)], client=pipe)
        return {key for key, held in zip(keys, pipe.execute(), strict=True) if held == 1}

    def release_many(self, keys: Iterable[str], *, owner: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            self._release(keys=[self.prefix + key], args=[owner], client=pipe)
        pipe.execute()

    def holders(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        if not keys:
            return {}
        values = self.client.mget([self.prefix + key for key in keys])
        return {key: value.decode() for key, value in zip(keys, values, strict=True) if value is not None}

    def holders_with_prefix(self, prefix: str) -> dict[str, str]:
        full = [key.decode() for key in self.client.scan_iter(match=f"{self.prefix}{prefix}*", count=500)]
        return self.holders([key.removeprefix(self.prefix) for key in full])


class DatabaseLeaseStore:
    """Leases as rows; each acquire is one conditional UPDATE plus INSERTs for keys never seen."""

    def acquire_many(self, keys: Iterable[str], *, owner: str, ttl: float) -> set[str]:
        keys = list(keys)
        now = timezone.now()
        expires = now + timedelta(seconds=ttl)
        with transaction.atomic():
            Lease.objects.filter(key__in=keys).filter(Q(owner=owner) | Q(expires_at__lte=now)).update(
                owner=owner, expires_at=expires
            )
            missing = set(keys) - set(Lease.objects.filter(key__in=keys).values_list("key", flat=True))
        for key in missing:
            try:
                with transaction.atomic():
                    Lease.objects.create(key=key, owner=owner, expires_at=expires)
            except IntegrityError:
                continue  # another process inserted it first; it holds the lease
        return set(
            Lease.objects.filter(key__in=keys, owner=owner, expires_at__gt=now).values_list("key", flat=True)
        )

    def release_many(self, keys: Iterable[str], *, owner: str) -> None:
        Lease.objects.filter(key__in=list(keys), owner=owner).delete()

    def holders(self, keys: Iterable[str]) -> dict[str, str]:
        rows = Lease.objects.filter(key__in=list(keys), expires_at__gt=timezone.now()).values_list(
            "key", "owner"
        )
        return dict(rows)

    def holders_with_prefix(self, prefix: str) -> dict[str, str]:
        live = Lease.objects.filter(key__startswith=prefix, expires_at__gt=timezone.now())
        return dict(live.values_list("key", "owner"))


def default_lease_store() -> LeaseStore:
    if settings.REDIS_URL:
        from django_redis import get_redis_connection  # inside: optional dependency (Redis leases)

        return RedisLeaseStore(get_redis_connection("default"))
    return DatabaseLeaseStore()
