"""Short cross-process locks on the shared cache: ``cache.add`` with a random token and an expiry.

``cache.add`` is atomic on both the database cache and Redis. Releasing must delete the key only
while it still holds our token (an expired lock may belong to someone else by now): on Redis that
is one compare-and-delete script, elsewhere a read and a delete.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.cache import cache

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_POLL_EVERY = 0.002
_scripts: dict[str, Any] = {}  # Lua source -> redis-py Script


def redis_script(redis: Any, source: str) -> Any:
    """The Lua script ``source`` as a redis-py ``Script``, registered once per process: called, it
    sends EVALSHA (and loads itself again after a Redis restart), not the whole text each time."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = redis.register_script(source)
    return script


def cache_lock_token() -> str:
    """A new holder's token (what ``cache_lock_release`` compares)."""
    return uuid.uuid4().hex


def cache_lock_acquire(key: str, *, ttl: float, wait: float) -> str | None:
    """Take the lock, waiting up to ``wait`` seconds (0: try once); the token, or None when taken."""
    token = cache_lock_token()
    deadline = time.monotonic() + wait
    while not cache.add(key, token, timeout=ttl):
        if time.monotonic() >= deadline:
            return None
        time.sleep(_POLL_EVERY)
    return token


def cache_lock_release(key: str, token: str) -> bool:
    """Delete the lock if it still holds ``token``; True when it did."""
    client = getattr(cache, "client", None)
    if hasattr(client, "get_client") and hasattr(client, "encode"):  # django-redis
        redis = client.get_client(write=True)
        release = redis_script(redis, _RELEASE)
        return bool(release(keys=[client.make_key(key)], args=[client.encode(token)], client=redis))
    if cache.get(key) == token:
        cache.delete(key)
        return True
    return False
