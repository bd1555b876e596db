"""A cross-process lock around all I/O with one machine: at most one process talks to a printer at a time.

The dispatcher (upload, start), the control tasks (pause, resume, cancel) and the poller all take
``machine_io_lock(machine_id)`` before calling the driver, so a poll never interleaves with an upload and
two workers never send commands to one printer at once. Like ``machines.state.machine_lock`` it uses
``cache.add`` (atomic on the database cache and on Redis) with a random token, so only the holder
releases it, and an expiry, so a killed holder blocks the machine for at most ``ttl`` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import cache

from machines.state import STATE_KEY, redis_cache_client, state_prefetched
from mes.cachelock import cache_lock_acquire, cache_lock_release, cache_lock_token, redis_script

IO_LOCK_KEY = "machines:io-lock:{}"
IO_LOCK_TTL = 60.0  # seconds; long operations (uploads) pass a longer ttl or call extend()
IO_LOCK_WAIT = 10.0


class MachineBusy(RuntimeError):
    """Another process holds the machine's I/O lock (and kept it longer than we were willing to wait)."""


@dataclass
class MachineIOLock:
    machine_id: str
    token: str
    ttl: float

    @property
    def key(self) -> str:
        return IO_LOCK_KEY.format(self.machine_id)

    def held(self) -> bool:
        return cache.get(self.key) == self.token

    def extend(self, ttl: float | None = None) -> bool:
        """Push the expiry out (during a long upload); False when the lock was lost to expiry."""
        if not self.held():
            return False
        return bool(cache.touch(self.key, ttl or self.ttl))

    def release(self) -> None:
        cache_lock_release(self.key, self.token)


def machine_io_lock_acquire(
    machine_id: object, *, wait: float = IO_LOCK_WAIT, ttl: float = IO_LOCK_TTL
) -> MachineIOLock:
    """Take the lock, waiting up to ``wait`` seconds (0: try once); raise ``MachineBusy`` otherwise."""
    key = IO_LOCK_KEY.format(machine_id)
    token = cache_lock_acquire(key, ttl=ttl, wait=wait)
    if token is None:
        raise MachineBusy(f"machine {machine_id} is busy talking to another process")
    return MachineIOLock(machine_id=str(machine_id), token=token, ttl=ttl)


# Release the previous poll's lock if given (KEYS[3], if it still holds token ARGV[3]), take the lock
# (KEYS[1], token ARGV[1], expiry ARGV[2] ms) and read the state (KEYS[2]): {1, state or ''} when taken,
# {0, ''} when another process holds it. One EVALSHA: cheaper than a pipeline in redis-py.
_TAKE_AND_READ = """
if KEYS[3] and redis.call('GET', KEYS[3]) == ARGV[3] then
    redis.call('DEL', KEYS[3])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return {1, redis.call('GET', KEYS[2]) or ''}
end
return {0, ''}
"""
# In a ``machine_poll_batch``: the poll lock this thread left last, released with its next take.
_batch = threading.local()


@contextmanager
def machine_poll_batch() -> Iterator[None]:
    """Polls run back to back by one thread (a poller's lane): each poll's lock is released by the
    script that takes the next machine's, which saves a round trip per poll. Whatever is still held
    when the block ends (an exception included) is released then."""
    _batch.active, _batch.pending = True, None
    try:
        yield
    finally:
        _batch.active, pending = False, _batch.pending
        _batch.pending = None
        if pending is not None:
            pending.release()


@contextmanager
def machine_poll_lock(machine_id: object, *, ttl: float = IO_LOCK_TTL) -> Iterator[MachineIOLock]:
    """The poll's ``machine_io_lock`` (try once): on Redis, taking it also reads the machine's live
    state, in one round trip (a script), for the poll's state write: three round trips a poll, not four."""
    client = redis_cache_client()
    if client is None:
        with machine_io_lock(machine_id, wait=0, ttl=ttl) as lock:
            yield lock
        return
    key = IO_LOCK_KEY.format(machine_id)
    token = cache_lock_token()
    redis = client.get_client(write=True)
    take_and_read = redis_script(redis, _TAKE_AND_READ)
    keys = [client.make_key(key), client.make_key(STATE_KEY.format(machine_id))]
    args = [client.encode(token), int(ttl * 1000)]
    batched = getattr(_batch, "active", False)
    previous = _batch.pending if batched else None
    if previous is not None:
        keys.append(client.make_key(previous.key))
        args.append(client.encode(previous.token))
    taken, blob = take_and_read(keys=keys, args=args, client=redis)
    if previous is not None:
        _batch.pending = None  # released (not before: when Redis fails, the batch's end tries again)
    blob = blob or None  # '' stands for "no state stored"
    if not taken:
        raise MachineBusy(f"machine {machine_id} is busy talking to another process")
    lock = MachineIOLock(machine_id=str(machine_id), token=token, ttl=ttl)
    try:
        with state_prefetched(machine_id, blob):
            yield lock
    finally:
        if batched:
            _batch.pending = lock  # released by the next take, or when the batch ends
        else:
            lock.release()


@contextmanager
def machine_io_lock(
    machine_id: object, *, wait: float = IO_LOCK_WAIT, ttl: float = IO_LOCK_TTL
) -> Iterator[MachineIOLock]:
    """``with machine_io_lock(machine.id): driver.upload(...)`` — see the module docstring."""
    lock = machine_io_lock_acquire(machine_id, wait=wait, ttl=ttl)
    try:
        yield lock
    finally:
        lock.release()
