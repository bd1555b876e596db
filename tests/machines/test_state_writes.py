"""Live-state writes: atomic without a lock on Redis (compare-and-set), readable across an upgrade.

On Redis a write reads the state, changes it and stores it only if nobody wrote in between; a write
that loses the race is redone on the winner's state. Other caches keep the per-machine lock. Both
passes run these tests; the race needs Redis (on the database cache a nested write would wait for
the lock its caller holds).
"""

from __future__ import annotations

import orjson
import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from machines.locks import MachineBusy, machine_io_lock_acquire, machine_poll_batch, machine_poll_lock
from machines.models import MachineConfig
from machines.state import STATE_KEY, read_state, update_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine_id() -> str:
    return str(MachineConfig.objects.create(name="P1", machine_type="label-printer", driver="none").pk)


def test_a_write_that_loses_a_race_is_redone_on_the_winners_state(machine_id):
    if not settings.REDIS_URL:
        pytest.skip("the database cache serializes writes with a lock; the race is checked on the Redis pass")
    update_state(machine_id, lambda raw: raw.update(errors=["first"]), default_status=500)
    calls = []

    def ours(raw: dict) -> None:
        calls.append(list(raw["errors"]))
        if len(calls) == 1:  # another process writes between our read and our write
            update_state(machine_id, lambda other: other["errors"].append("theirs"), default_status=500)
        raw["errors"].append("ours")

    old, new = update_state(machine_id, ours, default_status=500)
    assert calls == [["first"], ["first", "theirs"]]
    assert new.errors == ["first", "theirs", "ours"]
    assert old.errors == ["first", "theirs"]  # what our write was based on in the end
    assert read_state(machine_id).errors == ["first", "theirs", "ours"]


def test_old_and_new_are_separate_copies(machine_id):
    update_state(machine_id, lambda raw: raw.update(data={"job": {"progress": 1.0}}), default_status=500)

    def progress(raw: dict) -> None:
        raw["data"]["job"]["progress"] = 2.0

    old, new = update_state(machine_id, progress, default_status=500, seen=True)
    assert old.data == {"job": {"progress": 1.0}} and new.data == {"job": {"progress": 2.0}}
    assert old.last_seen is None and new.last_seen is not None


def test_a_state_stored_by_an_older_version_is_read_and_then_replaced(machine_id):
    """Before issue 18 the state was a pickled dict; after an upgrade the list must still show the
    machines (from the database copy on Redis) and the next write stores the new form."""
    update_state(machine_id, lambda raw: raw.update(status=100, status_text="Idle"), default_status=500)
    cache.set(STATE_KEY.format(machine_id), {"status": 100, "status_text": "Idle", "persisted_at": 0.0})
    before = read_state(machine_id)
    assert (before.status, before.status_text) == (100, "Idle")
    update_state(machine_id, lambda raw: raw.update(status=110), default_status=500, seen=True)
    after = read_state(machine_id)
    assert after.source == "cache" and after.status == 110 and after.status_text == "Idle"


def test_keys_that_are_not_text_are_stored_as_text_as_in_the_database(machine_id):
    update_state(machine_id, lambda raw: raw.update(data={"slots": {1: "PLA"}}), default_status=500)
    assert read_state(machine_id).data == {"slots": {"1": "PLA"}}


def test_a_polls_lock_is_exclusive_and_released(machine_id):
    with machine_poll_lock(machine_id):
        with pytest.raises(MachineBusy), machine_poll_lock(machine_id):
            pass
        with pytest.raises(MachineBusy):
            machine_io_lock_acquire(machine_id, wait=0)  # a dispatch waits for the poll too
    with machine_poll_lock(machine_id):  # released: free again
        pass


def _free(machine_id: str) -> bool:
    """Could a dispatch take the machine's I/O lock now?"""
    try:
        machine_io_lock_acquire(machine_id, wait=0).release()
    except MachineBusy:
        return False
    return True


def test_polls_back_to_back_release_each_lock_with_the_next_take(machine_id):
    if not settings.REDIS_URL:
        pytest.skip("the database cache has no scripts; its locks are released at once")
    other = str(MachineConfig.objects.create(name="P2", machine_type="label-printer", driver="none").pk)
    with machine_poll_batch():
        with machine_poll_lock(machine_id):
            pass
        assert not _free(machine_id)  # still held: the next poll's request releases it …
        with machine_poll_lock(other):
            assert _free(machine_id)  # … as it takes the next machine's lock
        assert not _free(other)
    assert _free(other)  # the batch's end releases the last one


def test_a_batch_that_fails_releases_the_lock_it_holds(machine_id):
    if not settings.REDIS_URL:
        pytest.skip("the database cache has no scripts; its locks are released at once")
    with pytest.raises(RuntimeError), machine_poll_batch(), machine_poll_lock(machine_id):
        raise RuntimeError("the driver raised")
    assert _free(machine_id)


def test_a_poll_writes_its_state_without_reading_it_again(machine_id, monkeypatch):
    if not settings.REDIS_URL:
        pytest.skip("only Redis reads the state with the lock; checked on the Redis pass")
    update_state(machine_id, lambda raw: raw.update(errors=["before"]), default_status=500)
    sent = []  # one entry per round trip that did its work
    real_command = redis.Redis.execute_command

    def recorded(self, *args, **kw):
        # A script Redis has not loaded yet fails here, is loaded, and is sent again: not counted.
        result = real_command(self, *args, **kw)
        sent.append(args[0])
        return result

    monkeypatch.setattr(redis.Redis, "execute_command", recorded)
    with machine_poll_lock(machine_id):
        old, new = update_state(machine_id, lambda raw: raw["errors"].append("polled"), default_status=500)
    # Lock and read in one script, the compare-and-set, the release: three scripts, no GET.
    steps = [step.upper() for step in sent if step.upper() != "SCRIPT LOAD"]
    assert steps == ["EVALSHA", "EVALSHA", "EVALSHA"]
    # Polls back to back (a poller's lane): each release rides with the next take, two round trips
    # a poll, and the batch's end releases the last lock.
    sent.clear()
    with machine_poll_batch():
        for _ in range(3):
            with machine_poll_lock(machine_id):
                update_state(machine_id, lambda raw: raw["errors"].append("polled"), default_status=500)
    steps = [step.upper() for step in sent if step.upper() != "SCRIPT LOAD"]
    assert steps == ["EVALSHA", "EVALSHA"] * 3 + ["EVALSHA"]
    assert old.errors == ["before"] and new.errors == ["before", "polled"]
    sent.clear()
    update_state(machine_id, lambda raw: raw["errors"].append("later"), default_status=500)
    assert [step.upper() for step in sent] == ["GET", "EVALSHA"]  # outside a poll, a write reads first
    assert read_state(machine_id).errors == ["before", "polled", "polled", "polled", "polled", "later"]


def test_a_state_changed_after_the_polls_read_is_not_overwritten(machine_id):
    if not settings.REDIS_URL:
        pytest.skip("only Redis reads the state with the lock; checked on the Redis pass")
    update_state(machine_id, lambda raw: raw.update(errors=["before"]), default_status=500)
    with machine_poll_lock(machine_id):
        # Another process (a worker recording an error) writes between the lock's read and the poll's
        # write: its bytes land in Redis as its compare-and-set would leave them.
        client = cache.client
        key = client.make_key(STATE_KEY.format(machine_id))
        theirs = orjson.loads(client.get_client().get(key))
        theirs["errors"].append("theirs")
        client.get_client().set(key, orjson.dumps(theirs))
        old, _ = update_state(machine_id, lambda raw: raw["errors"].append("polled"), default_status=500)
    assert old.errors == ["before", "theirs"]
    assert read_state(machine_id).errors == ["before", "theirs", "polled"]
