"""Poll a fleet at each machine's cadence, from one or many processes, one owner per machine.

Each poller process claims a fair share of the machines with expiring leases (mes.leases) and renews
them; a poller that dies stops renewing and the others take its machines over within one lease
period. Leases are renewed from the loop thread and never wait for machines to be set up: ownership
callbacks (driver init and teardown, which take seconds for a large fleet) run in order on a thread
of their own, in slices, and a machine is polled once its slice is set up. A machine that fails
backs off (2 s doubling to 60 s) and machines in backoff may use only a few of the threads, so a
room of powered-off printers can never delay the live ones (FDM Monster's failure with 54 printers
off). While a machine backs off, a cheap probe (when the caller gives one: a TCP connect with a
short timeout) still runs at its cadence, so a printer that comes back after minutes is polled
within one cadence, not at the end of its backoff.

Polls start in rounds (every ``round_seconds``, at most an eighth of the shortest cadence), not one
by one the moment each is due: a poll started up to ``EARLY_SHARE`` of its cadence early joins the
round, and the next one is due a cadence after this one was due, so a machine keeps its place in the
rounds. The same polls then cost much less CPU: a process that works in bursts and sleeps in between
keeps its caches warm, where one that wakes for every poll pays for a cold start each time (measured
in docs/benchmarks.md: 1.9 ms of CPU per poll one by one, 1.2 ms in bursts, for the same work).

A round's polls are run by as few threads ("lanes") as keep up, each taking the next poll of the
round until none is left: printers that answer in a millisecond are polled back to back by one
thread, and threads are added (up to ``threads``) while a round is not done by the next one, as when
printers take tens of milliseconds to answer or one hangs until its timeout. Every thread that waits
for the GIL costs CPU (CPython hands it over through the kernel), so 32 threads for fast printers
cost a third more CPU per poll than one. Polls of machines in backoff and probes, which may hang
until their timeout, each run on a thread of their own.

The poller knows nothing about drivers: it is given callables that list machines, poll one machine
and set machines up or tear them down when ownership arrives or leaves.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from mes.leases import LeaseStore

logger = logging.getLogger(__name__)

LEASE_PREFIX = "machine:"
POLLER_PREFIX = "poller:"
BACKOFF_START = 2.0
BACKOFF_MAX = 60.0
SETUP_SLICE = 50  # machines set up per ownership callback: the first are polled while the rest wait
EARLY_SHARE = 0.04  # a poll may start this share of its cadence early, to join a round


@dataclass
class PollerConfig:
    lease_ttl: float = 10.0
    threads: int = 32
    # At most this share of the threads may be busy with machines that are backing off.
    backoff_thread_share: float = 0.25
    # Polls start in rounds this far apart (at most an eighth of the shortest cadence of the fleet).
    round_seconds: float = 0.25
    default_cadence: float = 2.0


@dataclass
class PollStats:
    polls: int = 0
    failures: int = 0
    late: int = 0  # polls that began more than half a cadence after they were due
    lateness_total: float = 0.0
    probes: int = 0  # cheap checks of machines in backoff
    revived: int = 0  # machines a probe found back before their backoff ended
    lanes: int = 1  # threads the rounds' polls need at the moment (see the module docstring)


@dataclass
class _Started:
    due: float  # when the poll was due
    round: float  # when the round it was handed over in began
    at: float  # when a thread began the poll (until then: the round's start)


@dataclass(order=True)
class _Due:
    at: float
    machine_id: str = field(compare=False)
    generation: int = field(compare=False, default=0)
    probe: bool = field(compare=False, default=False)  # a cheap "is it back?" check, not a poll


@dataclass
class _Machine:
    machine_id: str
    cadence: float
    backoff: float = 0.0  # 0 while healthy
    generation: int = 0  # invalidates queued entries when the machine is rescheduled or dropped
    in_flight: bool = False
    poll_at: float = 0.0  # when the next full poll is due (probes stop once it is near)
    revived: bool = False  # this poll was started because a probe said the machine is back
    probe_misleads: bool = False  # a probe said "back" but the poll failed: wait for the backoff


class FleetPoller:
    def __init__(
        self,
        *,
        owner: str,
        store: LeaseStore,
        list_machines: Callable[[], dict[str, float]],
        poll: Callable[[str], bool],
        on_acquire: Callable[[list[str]], None] | None = None,
        on_release: Callable[[list[str]], None] | None = None,
        config: PollerConfig | None = None,
        probe: Callable[[str], bool | None] | None = None,
        lane_scope: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> None:
        """``list_machines`` returns {machine id: cadence in seconds} for every active machine;
        ``poll`` returns True when the machine answered. ``probe`` (optional) answers cheaply whether
        a machine in backoff is reachable again: True (poll it now), False (not yet) or None (it
        cannot tell: wait for the backoff). ``lane_scope`` (optional) is entered around each lane's
        run of polls back to back (e.g. to hand one poll's lock release to the next poll's request)."""
        self.owner = owner
        self.store = store
        self.list_machines = list_machines
        self.poll = poll
        self.probe = probe
        self.lane_scope = lane_scope or contextlib.nullcontext
        self.on_acquire = on_acquire or (lambda ids: None)
        self.on_release = on_release or (lambda ids: None)
        self.config = config or PollerConfig()
        self.stats = PollStats()
        self._machines: dict[str, _Machine] = {}
        self._queue: list[_Due] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(self.config.threads, thread_name_prefix="poll")
        self._backoff_busy = 0
        self._next_lease_cycle = 0.0
        self._round = self.config.round_seconds
        # This round's healthy polls, taken one at a time by the lanes (threads of the pool).
        self._work: deque[tuple[_Machine, _Started]] = deque()
        self._lanes = 1  # how many lanes the rounds need (grows while rounds are not done in time)
        self._lanes_running = 0
        self._drained = True  # every poll of the last round was taken by a lane …
        self._drained_after = 0.0  # … this many seconds after the round began
        self._round_began = 0.0
        # Ownership changes, applied in order by one thread: ("acquire" | "release", machine ids).
        self._changes: queue.Queue[tuple[str, list[str]] | None] = queue.Queue()
        self._changes_thread: threading.Thread | None = None

    # --- ownership -------------------------------------------------------------------------
    def owned(self) -> set[str]:
        with self._lock:
            return set(self._machines)

    def lease_cycle(self) -> None:
        """Renew our leases, claim our fair share of free machines, let go of the rest."""
        fleet = self.list_machines()
        ttl = self.config.lease_ttl
        pollers = self.store.acquire_many([POLLER_PREFIX + self.owner], owner=self.owner, ttl=ttl)
        assert pollers, "a poller's own heartbeat key is never contended"
        live_pollers = self._live_poller_count()
        share = math.ceil(len(fleet) / max(live_pollers, 1))
        current = self.owned() & set(fleet)
        # Keep what we own (up to our share), then try free machines until we reach the share.
        keep = sorted(current)[:share]
        held = (
            self.store.acquire_many([LEASE_PREFIX + m for m in keep], owner=self.owner, ttl=ttl)
            if keep
            else set()
        )
        held_ids = {key.removeprefix(LEASE_PREFIX) for key in held}
        if len(held_ids) < share:
            holders = self.store.holders([LEASE_PREFIX + m for m in fleet if m not in held_ids])
            free = [m for m in sorted(fleet) if m not in held_ids and LEASE_PREFIX + m not in holders]
            wanted = free[: share - len(held_ids)]
            if wanted:
                got = self.store.acquire_many([LEASE_PREFIX + m for m in wanted], owner=self.owner, ttl=ttl)
                held_ids |= {key.removeprefix(LEASE_PREFIX) for key in got}
        lost = (self.owned() - held_ids) | (self.owned() - set(fleet))
        surplus = current - set(keep)
        if surplus:
            self.store.release_many([LEASE_PREFIX + m for m in surplus], owner=self.owner)
        gained = held_ids - self.owned()
        self._apply_ownership(gained=gained, lost=lost | surplus, fleet=fleet)

    def _live_poller_count(self) -> int:
        """Pollers announce themselves with a lease on ``poller:<owner>``; count the unexpired ones."""
        return max(1, len(self.store.holders_with_prefix(POLLER_PREFIX)))

    def _apply_ownership(self, *, gained: set[str], lost: set[str], fleet: dict[str, float]) -> None:
        """Book the change at once (so the next lease cycle renews it); set machines up elsewhere."""
        with self._lock:
            for machine_id in lost:
                entry = self._machines.pop(machine_id, None)
                if entry:
                    entry.generation += 1
            for machine_id in gained:
                self._machines[machine_id] = _Machine(
                    machine_id, cadence=fleet.get(machine_id) or self.config.default_cadence
                )
            for machine_id, entry in self._machines.items():
                entry.cadence = fleet.get(machine_id) or self.config.default_cadence
            shortest = min((entry.cadence for entry in self._machines.values()), default=math.inf)
            self._round = min(self.config.round_seconds, shortest / 8)
        if lost:
            logger.info("poller %s released %d machine(s)", self.owner, len(lost))
            self._changes.put(("release", sorted(lost)))
        if gained:
            logger.info("poller %s took over %d machine(s)", self.owner, len(gained))
            ids = sorted(gained)
            for start in range(0, len(ids), SETUP_SLICE):
                self._changes.put(("acquire", ids[start : start + SETUP_SLICE]))
        if (lost or gained) and self._changes_thread is None:
            self._changes_thread = threading.Thread(
                target=self._apply_changes, name=f"poller-ownership-{self.owner}", daemon=True
            )
            self._changes_thread.start()

    def _apply_changes(self) -> None:
        """Run ownership callbacks in the order they happened; queue the first poll of set-up machines."""
        while True:
            change = self._changes.get()
            try:
                if change is None:
                    return
                kind, ids = change
                if kind == "release":
                    self._safely(self.on_release, ids)
                    continue
                with self._lock:  # skip what was lost again while it waited
                    ids = [machine_id for machine_id in ids if machine_id in self._machines]
                if not ids:
                    continue
                self._safely(self.on_acquire, ids)
                now = time.monotonic()
                with self._lock:
                    for machine_id in ids:
                        entry = self._machines.get(machine_id)
                        if entry is not None:
                            heapq.heappush(self._queue, _Due(now, machine_id, entry.generation))
            finally:
                self._changes.task_done()

    def wait_for_ownership(self) -> None:
        """Block until every ownership change so far has been applied (tests, shutdown)."""
        self._changes.join()

    @staticmethod
    def _safely(callback: Callable[[list[str]], None], ids: list[str]) -> None:
        try:
            callback(ids)
        except Exception:
            logger.exception("ownership callback failed for %d machine(s)", len(ids))

    # --- polling ---------------------------------------------------------------------------
    def _backoff_slots(self) -> int:
        return max(1, int(self.config.threads * self.config.backoff_thread_share))

    def run_once(self, now: float | None = None) -> int:
        """Start every poll that is due, or nearly (``EARLY_SHARE``); return how many were started."""
        now = time.monotonic() if now is None else now
        to_start: list[tuple[_Machine, float]] = []
        to_probe: list[_Machine] = []
        deferred: list[_Due] = []
        horizon = now + self._round
        with self._lock:
            while self._queue and self._queue[0].at <= horizon:
                due = heapq.heappop(self._queue)
                entry = self._machines.get(due.machine_id)
                if entry is None or entry.generation != due.generation or entry.in_flight:
                    continue
                if due.at > now + entry.cadence * EARLY_SHARE:
                    deferred.append(due)  # not due this round
                    continue
                if due.probe and due.at >= entry.poll_at:
                    continue  # the full poll is due by now anyway
                if entry.backoff and self._backoff_busy >= self._backoff_slots():
                    deferred.append(due)  # wait for a backoff slot; live machines go first
                    continue
                entry.in_flight = True
                if entry.backoff:
                    self._backoff_busy += 1
                if due.probe:
                    to_probe.append(entry)
                    continue
                to_start.append((entry, due.at))
            for due in deferred:
                heapq.heappush(self._queue, due)
        # Handed over outside the lock.
        healthy = []
        for entry, due_at in to_start:
            started = _Started(due=due_at, round=now, at=now)
            if entry.backoff:  # may hang until its timeout: a thread of its own, as probes
                self._pool.submit(self._poll_one, entry, started)
            else:
                healthy.append((entry, started))
        for entry in to_probe:
            future = self._pool.submit(self.probe, entry.machine_id)
            future.add_done_callback(lambda f, e=entry: self._probed(e, f))
        self._hand_to_lanes(healthy)
        return len(to_start)

    def _hand_to_lanes(self, polls: list[tuple[_Machine, _Started]]) -> None:
        """Queue a round's polls for the lanes. Polls of an earlier round not even begun mean the lanes
        do not keep up (slow printers, or some hanging until their timeout): twice as many lanes, at
        once. A round done well in time: one lane fewer. The pool keeps threads for the polls of
        machines in backoff and the probes."""
        with self._lock:
            most = max(1, self.config.threads - self._backoff_slots())
            if self._work:
                self._lanes = min(most, self._lanes * 2)
            elif polls and self._lanes > 1 and self._drained and self._drained_after < self._round / 2:
                self._lanes -= 1
            if polls:
                self._drained = False
                self._round_began = time.monotonic()
                self._work.extend(polls)
            self.stats.lanes = self._lanes
            start = max(0, min(self._lanes, len(self._work)) - self._lanes_running)
            self._lanes_running += start
        for _ in range(start):
            self._pool.submit(self._lane)

    def _lane(self) -> None:
        """Take the round's polls one by one until none is left."""
        try:
            with self.lane_scope():
                while True:
                    with self._lock:
                        if not self._work:
                            self._lanes_running -= 1
                            if not self._drained:
                                self._drained = True
                                self._drained_after = time.monotonic() - self._round_began
                            return
                        entry, started = self._work.popleft()
                    self._poll_one(entry, started)
        except Exception:  # the scope's own end (e.g. a lock release while Redis is away); polls log theirs
            logger.exception("a poll lane's scope failed")

    def _poll_one(self, entry: _Machine, started: _Started) -> None:
        started.at = time.monotonic()
        try:
            ok = bool(self.poll(entry.machine_id))
        except Exception:
            logger.exception("poll of machine %s raised", entry.machine_id)
            ok = False
        self._finished(entry, started, ok)

    def _finished(self, entry: _Machine, started: _Started, ok: bool) -> None:
        with self._lock:
            self.stats.polls += 1
            # Counted when the poll really began, not when it was handed to the lanes or the pool.
            lateness = max(0.0, started.at - started.due)
            self.stats.lateness_total += lateness
            if lateness > entry.cadence / 2:
                self.stats.late += 1
            if entry.backoff:
                self._backoff_busy -= 1
            entry.in_flight = False
            entry.revived, revived = False, entry.revived
            if ok:
                entry.backoff = 0.0
                entry.probe_misleads = False
                # A cadence after it was due keeps the machine in its round. A poll that began late
                # (a busy pool, a crowded round) sets the next one off from when it really began, so
                # machines taken over all at once spread over the rounds by themselves. Two rounds
                # that poll a printer are never closer than its cadence, less the share a poll may
                # start early, even when the rounds themselves slip (a saturated box): the next one is
                # due no sooner than a cadence after this one's round.
                early = entry.cadence * EARLY_SHARE
                next_at = max(started.due, started.round, started.at - early) + entry.cadence
            else:
                self.stats.failures += 1
                # The port answers but the machine does not (e.g. printers behind one host): probing
                # would poll it every cadence, so it waits for its backoff until it answers again.
                entry.probe_misleads = entry.probe_misleads or revived
                entry.backoff = BACKOFF_START if not entry.backoff else min(entry.backoff * 2, BACKOFF_MAX)
                next_at = time.monotonic() + entry.backoff
            if self._machines.get(entry.machine_id) is entry:
                entry.poll_at = max(next_at, time.monotonic())
                heapq.heappush(self._queue, _Due(entry.poll_at, entry.machine_id, entry.generation))
                self._schedule_probe(entry)

    def _schedule_probe(self, entry: _Machine) -> None:
        """While a machine backs off, check cheaply at its cadence whether it is back (lock held)."""
        probe_at = time.monotonic() + entry.cadence
        if entry.backoff and self.probe is not None and not entry.probe_misleads and probe_at < entry.poll_at:
            heapq.heappush(self._queue, _Due(probe_at, entry.machine_id, entry.generation, probe=True))

    def _probed(self, entry: _Machine, future: Future) -> None:
        try:
            back = future.result()
        except Exception:
            logger.exception("probe of machine %s raised", entry.machine_id)
            back = None
        with self._lock:
            self.stats.probes += 1
            if entry.backoff:
                self._backoff_busy -= 1
            entry.in_flight = False
            if self._machines.get(entry.machine_id) is not entry:
                return
            if back:
                # Reachable again: poll now. The queued poll (and probes) of the backoff are dropped.
                self.stats.revived += 1
                entry.revived = True
                entry.generation += 1
                entry.poll_at = time.monotonic()
                heapq.heappush(self._queue, _Due(entry.poll_at, entry.machine_id, entry.generation))
            elif back is False:
                self._schedule_probe(entry)

    def run(self) -> None:
        """Poll until ``stop()``; renew leases every third of the lease period."""
        try:
            next_round = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= self._next_lease_cycle:
                    try:
                        self.lease_cycle()
                    except Exception:
                        # The lease store (Redis or the database) is down: keep polling what we own
                        # until our leases run out, and try again on the next cycle.
                        logger.exception("lease renewal failed; retrying")
                    self._next_lease_cycle = now + self.config.lease_ttl / 3
                self.run_once(now)
                # Rounds keep their own beat (the work of a round does not push the next one back);
                # after a stall the next round is one round from now, not a burst of missed ones.
                next_round += self._round
                if next_round <= now:
                    next_round = now + self._round
                self._stop.wait(max(0.0, next_round - time.monotonic()))
        finally:
            self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        """Let in-flight polls finish, hand our machines back at once (no waiting for expiry)."""
        self._pool.shutdown(wait=True)
        owned = sorted(self.owned())
        with self._lock:
            self._machines.clear()
            self._queue.clear()
        if self._changes_thread is not None:
            self._changes.put(None)  # pending set-ups of machines we no longer hold are skipped
            self._changes_thread.join()
            self._changes_thread = None
        if owned:
            self._safely(self.on_release, owned)
            try:
                self.store.release_many([LEASE_PREFIX + m for m in owned], owner=self.owner)
                self.store.release_many([POLLER_PREFIX + self.owner], owner=self.owner)
            except Exception:
                logger.exception("could not release leases on shutdown; they expire on their own")

    def backoff_of(self, machine_id: str) -> float:
        with self._lock:
            entry = self._machines.get(machine_id)
            return entry.backoff if entry else 0.0
