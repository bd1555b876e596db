"""Runtime state of machines: in the shared cache for speed, persisted to the database when it changes.

The state is kept as JSON (orjson; the same plain data the database copy holds). Every write is an
atomic read-modify-write, so two processes adding errors at once lose neither: on Redis a GET and
then a compare-and-set script that writes only if the stored bytes are still the ones read (retried
on a conflict; two round trips per write, one when a poll read the state with its I/O lock:
``state_prefetched``), on other caches under a short per-machine lock taken with
``cache.add``. ``mutate`` may therefore run more than once for one write and must only change the
dict it is given. A write that changes nothing is not sent.

Writes to ``MachineState`` happen on change only; the cache carries the rest. A change to a
*significant* part (status, status text, errors, the init/restart flags, and every ``data`` entry but
the printer's telemetry) is written at once, with everything else. *Telemetry* (properties, and the
temperatures, progress and times inside ``data["printer_state"]``) changes on every poll of a working
printer, so it is written at most every ``PERSIST_TELEMETRY_EVERY`` seconds, and ``last_seen`` alone at
most every ``PERSIST_LAST_SEEN_EVERY`` seconds. After a cache flush or a restart the last known state is
served from the database, marked stale: current status and flags, telemetry up to
``PERSIST_TELEMETRY_EVERY`` seconds old.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import monotonic, sleep
from typing import Any

import orjson
from django.core.cache import cache
from django.db import IntegrityError, transaction

from machines.models import MachineState
from mes.cacheerrors import CACHE_UNAVAILABLE
from mes.cachelock import cache_lock_acquire, cache_lock_release, redis_script

logger = logging.getLogger(__name__)

STATE_KEY = "machines:state:{}"
LOCK_KEY = "machines:state-lock:{}"
LOCK_TIMEOUT = 10  # seconds a crashed holder can block others
LOCK_WAIT = 5.0
PERSIST_LAST_SEEN_EVERY = 60.0
# Telemetry alone is written at most this often: at 1000 printers polled every 2 s, writing each
# temperature/progress change would be ~500 writes/s; this caps it at ~33/s. The cache stays current,
# only a database copy served after a cache flush can be this old (and it is marked stale).
PERSIST_TELEMETRY_EVERY = 30.0
STALE_AFTER = 30.0
MAX_ERRORS = 50
# Written as soon as they change: after a cache loss they decide what may run on the machine.
_SIGNIFICANT_FIELDS = ("status", "status_text", "errors", "initialized", "restart_required")
# Telemetry inside ``data["printer_state"]`` (``PrinterState.as_dict()``); the rest of ``data`` (the
# printer's status, job file, message, bed-clear flag, …) is significant.
_PRINTER_STATE_TELEMETRY = frozenset({"temperatures"})
_JOB_TELEMETRY = frozenset({"progress", "time_used", "time_left"})
# Raw-state key: telemetry changed since the last database write (lives in the cache only).
_TELEMETRY_DIRTY = "telemetry_dirty"
# Write the new state only if the key still holds what was read ('' = absent). KEYS[1] = key,
# ARGV[1] = the bytes read, ARGV[2] = the new bytes. 1 when written.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if (current or '') == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2])
    return 1
end
return 0
"""
_CONFLICT_PAUSE = 0.002  # seconds before retrying after another process wrote the same state


class StateLockTimeout(RuntimeError):
    pass


@dataclass
class LiveState:
    """What is known about a machine right now. ``source`` says where it came from."""

    status: int | None = None
    status_text: str = ""
    properties: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    initialized: bool = False
    restart_required: bool = False
    last_seen: datetime | None = None
    data: dict = field(default_factory=dict)
    source: str = "none"  # "cache", "database" (cache was flushed) or "none" (never seen)

    @property
    def stale(self) -> bool:
        """True when this is not a fresh report: from the database, never seen, or seen long ago."""
        if self.source != "cache" or self.last_seen is None:
            return True
        return (datetime.now(tz=UTC) - self.last_seen).total_seconds() > STALE_AFTER

    def property(self, key: str, default: Any = None) -> Any:
        for prop in self.properties:
            if prop.get("key") == key:
                return prop.get("value")
        return default

    @classmethod
    def from_raw(cls, raw: dict, *, source: str, copy: bool = True) -> LiveState:
        """``copy=False`` when nobody else holds ``raw`` (just unpickled): its lists are used as they are,
        which saves three allocations per machine on a list page."""
        last_seen = raw.get("last_seen")
        properties = raw.get("properties") or []
        errors = raw.get("errors") or []
        data = raw.get("data") or {}
        return cls(
            status=raw.get("status"),
            status_text=raw.get("status_text", ""),
            properties=list(properties) if copy else properties,
            errors=list(errors) if copy else errors,
            initialized=bool(raw.get("initialized")),
            restart_required=bool(raw.get("restart_required")),
            last_seen=datetime.fromtimestamp(last_seen, tz=UTC) if last_seen else None,
            data=dict(data) if copy else data,
            source=source,
        )


def _raw_from_row(row: MachineState) -> dict:
    return {
        "status": row.status,
        "status_text": row.status_text,
        "properties": row.properties,
        "errors": row.errors,
        "initialized": row.initialized,
        "restart_required": row.restart_required,
        "data": row.data,
        "last_seen": row.last_seen.timestamp() if row.last_seen else None,
        "persisted_at": row.last_seen.timestamp() if row.last_seen else 0.0,
    }


def _dumps(raw: dict) -> bytes:
    # Non-string keys become strings, as the database's JSON copy would have them.
    return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS)


def _loads(blob: Any) -> dict | None:
    """A stored state, or None for a value this version cannot read (e.g. pickled by an older one:
    then the database copy is used and the next write replaces it)."""
    if isinstance(blob, dict):  # written by an older version through the cache API
        return orjson.loads(_dumps(blob))
    try:
        raw = orjson.loads(blob)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return raw if isinstance(raw, dict) else None


def redis_cache_client():
    """django-redis's client when the cache is Redis (raw bytes, scripts); None for other caches."""
    client = getattr(cache, "client", None)
    if hasattr(client, "get_client") and hasattr(client, "make_key"):
        return client
    return None


# A state blob read together with something else in one round trip (the poll's I/O lock), for this
# thread's next write of that machine. Only a first guess: the compare-and-set rejects it if stale.
_prefetched = threading.local()


@contextmanager
def state_prefetched(machine_id: Any, blob: bytes | None) -> Iterator[None]:
    """Let ``update_state`` of ``machine_id`` in this block start from ``blob`` instead of a GET."""
    _prefetched.entry = (str(machine_id), blob)
    try:
        yield
    finally:
        _prefetched.entry = None


def _take_prefetched(machine_id: str) -> tuple[bool, bytes | None]:
    entry = getattr(_prefetched, "entry", None)
    if entry is None or entry[0] != machine_id:
        return False, None
    _prefetched.entry = None  # used once: a retry or a second write reads afresh
    return True, entry[1]


def _compare_and_set(redis, key: str, expected: bytes, new: bytes) -> bool:
    compare_and_set = redis_script(redis, _COMPARE_AND_SET)
    return compare_and_set(keys=[key], args=[expected, new], client=redis) == 1


def _read_blobs(keys: list[str]) -> list[Any]:
    client = redis_cache_client()
    if client is not None:
        redis = client.get_client(write=False)
        return redis.mget([client.make_key(key) for key in keys])
    found = cache.get_many(keys)
    return [found.get(key) for key in keys]


def read_states(
    machine_ids: Iterable[Any], *, rows: dict[str, MachineState | None] | None = None
) -> dict[str, LiveState]:
    """Live state of many machines with one cache round trip (and at most one query for cache misses).

    Pass ``rows`` (persisted states already loaded, e.g. via ``select_related("state")``) to avoid
    the query.
    """
    keys = {STATE_KEY.format(machine_id): str(machine_id) for machine_id in machine_ids}
    if not keys:
        return {}
    try:
        blobs = _read_blobs(list(keys))
    except CACHE_UNAVAILABLE as exc:
        # Redis is away: the last persisted states, marked stale (source "database"), not an error.
        logger.warning("live state of %d machine(s) read from the database: %s", len(keys), exc)
        blobs = [None] * len(keys)
    result: dict[str, LiveState] = {}
    missing = []
    for machine_id, blob in zip(keys.values(), blobs, strict=True):
        raw = _loads(blob) if blob is not None else None
        if raw is not None:
            # Freshly decoded: nobody else holds it, nothing to copy again.
            result[machine_id] = LiveState.from_raw(raw, source="cache", copy=False)
        else:
            missing.append(machine_id)
    if missing:
        if rows is None:
            rows = {str(row.machine_id): row for row in MachineState.objects.filter(machine_id__in=missing)}
        for machine_id in missing:
            row = rows.get(machine_id)
            result[machine_id] = (
                LiveState.from_raw(_raw_from_row(row), source="database") if row else LiveState()
            )
    return result


def read_state(machine_id: Any) -> LiveState:
    return read_states([machine_id])[str(machine_id)]


@contextmanager
def machine_lock(machine_id: str):
    """A short cross-process lock around a read-modify-write of one machine's state."""
    key = LOCK_KEY.format(machine_id)
    token = cache_lock_acquire(key, ttl=LOCK_TIMEOUT, wait=LOCK_WAIT)
    if token is None:
        raise StateLockTimeout(f"state of machine {machine_id} is locked by another process")
    try:
        yield
    finally:
        cache_lock_release(key, token)


def _significant_data(data: dict | None) -> dict:
    """``data`` without its telemetry, for telling a significant change from a telemetry one."""
    data = data or {}
    printer_state = data.get("printer_state")
    if not isinstance(printer_state, dict):
        return data
    printer_state = {k: v for k, v in printer_state.items() if k not in _PRINTER_STATE_TELEMETRY}
    job = printer_state.get("job")
    if isinstance(job, dict):
        printer_state["job"] = {k: v for k, v in job.items() if k not in _JOB_TELEMETRY}
    return {**data, "printer_state": printer_state}


def _changes(old: dict, new: dict) -> tuple[bool, bool]:
    """(significant changed, telemetry changed) between two raw states."""
    if any(old.get(name) != new.get(name) for name in _SIGNIFICANT_FIELDS):
        return True, True  # telemetry is written along anyway; no need to compare it
    old_data, new_data = old.get("data") or {}, new.get("data") or {}
    if old_data == new_data:
        return False, (old.get("properties") or []) != (new.get("properties") or [])
    if _significant_data(old_data) != _significant_data(new_data):
        return True, True
    return False, True


def _should_persist(raw: dict, *, significant: bool, telemetry: bool, seen: bool, now: float) -> bool:
    """Write now? Significant changes at once, pending telemetry and ``last_seen`` when due."""
    if significant:
        return True
    since = now - float(raw.get("persisted_at") or 0)
    if (telemetry or raw.get(_TELEMETRY_DIRTY)) and since >= PERSIST_TELEMETRY_EVERY:
        return True
    return seen and since > PERSIST_LAST_SEEN_EVERY


def update_state(
    machine_id: Any,
    mutate: Callable[[dict], None],
    *,
    default_status: int | None,
    seen: bool = False,
    on_status_change: Callable[[int | None, int | None], None] | None = None,
) -> tuple[LiveState, LiveState]:
    """Apply ``mutate`` to the machine's raw state atomically; return (old, new).

    ``seen`` marks that the machine answered just now (sets ``last_seen``). ``on_status_change(old,
    new)`` runs when the status code changed, in the database transaction that persists the new state
    (it writes the domain event, so the event exists exactly when the stored status does).
    """
    machine_id = str(machine_id)
    key = STATE_KEY.format(machine_id)
    client = redis_cache_client()
    if client is None:
        with machine_lock(machine_id):
            blob = cache.get(key)
            change = _apply(machine_id, blob, mutate, default_status=default_status, seen=seen)
            if change.blob != blob:
                cache.set(key, change.blob, timeout=None)
    else:
        redis, full_key = client.get_client(write=True), client.make_key(key)
        deadline = monotonic() + LOCK_WAIT
        known, blob = _take_prefetched(machine_id)
        while True:
            if not known:
                blob = redis.get(full_key)
            known = False
            change = _apply(machine_id, blob, mutate, default_status=default_status, seen=seen)
            if change.blob == blob or _compare_and_set(redis, full_key, blob or b"", change.blob):
                break
            if monotonic() >= deadline:  # another process kept winning: as a lock held too long
                raise StateLockTimeout(f"state of machine {machine_id} kept changing under this write")
            sleep(_CONFLICT_PAUSE)
    old, raw = change.old, change.new
    if change.persist:
        status_changed = on_status_change is not None and old.get("status") != raw.get("status")
        _persist(
            machine_id,
            raw,
            announce=(lambda: on_status_change(old.get("status"), raw.get("status")))
            if status_changed
            else None,
        )
    return (
        LiveState.from_raw(old, source=change.source, copy=False),
        LiveState.from_raw(raw, source="cache", copy=False),
    )


@dataclass
class _Change:
    old: dict
    new: dict
    blob: bytes  # ``new`` as stored
    source: str  # where ``old`` came from
    persist: bool


def _apply(
    machine_id: str, blob: Any, mutate: Callable[[dict], None], *, default_status: int | None, seen: bool
) -> _Change:
    """The new state from the stored one (``blob``, None when absent); decoded twice rather than copied."""
    old = _loads(blob) if blob is not None else None
    source = "cache"
    if old is None:
        row = MachineState.objects.filter(machine_id=machine_id).first()
        old = _raw_from_row(row) if row else {"status": default_status, "persisted_at": 0.0}
        source = "database" if row else "none"
        raw = orjson.loads(_dumps(old))
    else:
        raw = _loads(blob)
    mutate(raw)
    raw["errors"] = list(raw.get("errors") or [])[-MAX_ERRORS:]
    now = time.time()
    if seen:
        raw["last_seen"] = now
    significant, telemetry = _changes(old, raw)
    persist = _should_persist(raw, significant=significant, telemetry=telemetry, seen=seen, now=now)
    if persist:
        raw["persisted_at"] = now
        raw.pop(_TELEMETRY_DIRTY, None)
    elif telemetry:
        raw[_TELEMETRY_DIRTY] = True  # written with the next significant change or when due
    new_blob = _dumps(raw)
    if source == "cache" and new_blob == blob:
        persist = False  # nothing changed; nothing to write anywhere
    return _Change(old=old, new=raw, blob=new_blob, source=source, persist=persist)


def _persist(machine_id: str, raw: dict, *, announce: Callable[[], None] | None = None) -> bool:
    """Write the state row (and, in the same transaction, what ``announce`` writes)."""
    last_seen = raw.get("last_seen")
    try:
        with transaction.atomic():
            MachineState.objects.update_or_create(
                machine_id=machine_id,
                defaults={
                    "status": raw.get("status"),
                    "status_text": raw.get("status_text", ""),
                    "properties": raw.get("properties") or [],
                    "errors": raw.get("errors") or [],
                    "initialized": bool(raw.get("initialized")),
                    "restart_required": bool(raw.get("restart_required")),
                    "data": raw.get("data") or {},
                    "last_seen": datetime.fromtimestamp(last_seen, tz=UTC) if last_seen else None,
                },
            )
            if announce is not None:
                announce()
    except IntegrityError:
        # The machine was deleted while we were writing its state; nothing to keep.
        logger.info("Machine %s no longer exists; its state was not persisted", machine_id)
        return False
    return True


def forget_state(machine_id: Any) -> None:
    cache.delete(STATE_KEY.format(machine_id))
