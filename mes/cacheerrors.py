"""What a shared-cache (Redis) outage looks like to the code that reads it.

Redis holds copies (live state, the registry generation) whose durable truth is in the database, so
readers fall back to the database while it is away; anything else gets a 503 that says so, never a
500 (``mes.api.exceptions``).
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

try:
    from django_redis.exceptions import ConnectionInterrupted
except ImportError:  # django-redis is a dependency; without it only redis-py's own errors occur
    ConnectionInterrupted = RedisConnectionError

CACHE_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionInterrupted,
    RedisConnectionError,
    RedisTimeoutError,
)

UNAVAILABLE_MESSAGE = "the shared cache (Redis) cannot be reached; try again in a few seconds"
