"""One owner per resource: leases on Redis and on the database behave the same."""

from __future__ import annotations

import threading

import pytest
import redis

from mes.leases import RedisLeaseStore, new_owner_id
from tests.services import require_redis
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


def test_only_one_owner_holds_a_lease(lease_store):
    a, b = new_owner_id("a"), new_owner_id("b")
    assert lease_store.acquire_many(["machine:1", "machine:2"], owner=a, ttl=5) == {"machine:1", "machine:2"}
    assert lease_store.acquire_many(["machine:1", "machine:3"], owner=b, ttl=5) == {"machine:3"}
    assert lease_store.holders(["machine:1", "machine:2", "machine:3", "machine:4"]) == {
        "machine:1": a,
        "machine:2": a,
        "machine:3": b,
    }


def test_renewal_keeps_the_lease_and_expiry_hands_it_over(lease_store):
    a, b = new_owner_id("a"), new_owner_id("b")
    # "m" is renewed, the control lease "n" taken at the same time is not: once b gets "n", the first
    # lease period is over for both, so "m" is still a's only because it was renewed.
    assert lease_store.acquire_many(["m", "n"], owner=a, ttl=0.5) == {"m", "n"}
    assert lease_store.acquire_many(["m"], owner=a, ttl=30) == {"m"}  # renewed
    wait_until(
        lambda: lease_store.acquire_many(["n"], owner=b, ttl=30), message="the unrenewed lease to expire"
    )
    assert lease_store.acquire_many(["m"], owner=b, ttl=0.5) == set()  # still a's after renewal
    assert lease_store.acquire_many(["m"], owner=a, ttl=0.5) == {"m"}  # a's last renewal, then it stops
    wait_until(
        lambda: lease_store.acquire_many(["m"], owner=b, ttl=30), message="b to take over the lapsed lease"
    )
    assert lease_store.holders(["m", "n"]) == {"m": b, "n": b}


def test_release_frees_only_your_own_lease(lease_store):
    a, b = new_owner_id("a"), new_owner_id("b")
    lease_store.acquire_many(["m"], owner=a, ttl=5)
    lease_store.release_many(["m"], owner=b)
    assert lease_store.holders(["m"]) == {"m": a}
    lease_store.release_many(["m"], owner=a)
    assert lease_store.holders(["m"]) == {}
    assert lease_store.acquire_many(["m"], owner=b, ttl=5) == {"m"}


@pytest.mark.redis
def test_concurrent_claims_on_redis_yield_exactly_one_owner():
    client = redis.Redis.from_url(require_redis())
    prefix = f"test:lease:{new_owner_id('race')}:"
    store = RedisLeaseStore(client, prefix=prefix)
    won: dict[str, set[str]] = {}
    barrier = threading.Barrier(8)

    def claim(owner: str) -> None:
        barrier.wait()
        won[owner] = store.acquire_many([f"m{i}" for i in range(50)], owner=owner, ttl=5)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [key for keys in won.values() for key in keys]
    assert sorted(claimed) == sorted(f"m{i}" for i in range(50))  # each key once, none lost
    client.delete(*client.keys(prefix + "*"))
