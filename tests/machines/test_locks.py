"""Machine locks on the shared cache: only the holder releases, and a lost lock is not deleted twice.

Runs on the database cache in the SQLite pass and on Redis in the services pass (where release is
one compare-and-delete script).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from machines.locks import MachineBusy, machine_io_lock, machine_io_lock_acquire
from machines.state import machine_lock
from mes.cachelock import cache_lock_acquire, cache_lock_release

pytestmark = pytest.mark.django_db


def test_the_holder_releases_and_a_stranger_cannot():
    token = cache_lock_acquire("test:lock", ttl=30, wait=0)
    assert token is not None
    assert cache_lock_acquire("test:lock", ttl=30, wait=0) is None  # taken
    assert cache_lock_release("test:lock", "not-the-token") is False
    assert cache.get("test:lock") == token  # still held
    assert cache_lock_release("test:lock", token) is True
    assert cache.get("test:lock") is None
    assert cache_lock_acquire("test:lock", ttl=30, wait=0) is not None


def test_a_lock_that_expired_and_was_taken_again_is_left_to_its_new_holder():
    first = cache_lock_acquire("test:lock", ttl=30, wait=0)
    cache.delete("test:lock")  # it expired …
    second = cache_lock_acquire("test:lock", ttl=30, wait=0)  # … and another process took it
    assert cache_lock_release("test:lock", first) is False
    assert cache.get("test:lock") == second


def test_io_lock_makes_a_second_caller_wait_then_give_up():
    with machine_io_lock("m1", wait=0) as lock:
        assert lock.held()
        with pytest.raises(MachineBusy, match="busy"):
            machine_io_lock_acquire("m1", wait=0.05)
    assert machine_io_lock_acquire("m1", wait=0).held()


def test_state_lock_is_released_when_the_block_raises():
    with pytest.raises(RuntimeError), machine_lock("m2"):
        raise RuntimeError("boom")
    with machine_lock("m2"):  # not left behind
        pass
