"""The fleet poller: cadence, fair shares between pollers, takeover after a death, backoff without starvation."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time

import pytest

from mes.leases import new_owner_id
from mes.poller import BACKOFF_MAX, EARLY_SHARE, FleetPoller, PollerConfig
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)  # pollers use the database from their threads


class Recorder:
    """Counts polls per machine; machines in ``dead`` fail after ``dead_delay`` seconds (a timeout)."""

    def __init__(self, dead: set[str] | None = None, dead_delay: float = 0.0) -> None:
        self.polls: dict[str, list[float]] = {}
        self.dead = dead or set()
        self.dead_delay = dead_delay
        self.lock = threading.Lock()

    def __call__(self, machine_id: str) -> bool:
        with self.lock:
            self.polls.setdefault(machine_id, []).append(time.monotonic())
        if machine_id in self.dead:
            time.sleep(self.dead_delay)
            return False
        return True


def fleet(n: int, cadence: float = 0.2) -> dict[str, float]:
    return {f"m{i:03d}": cadence for i in range(n)}


@pytest.fixture
def run_for():
    """Runs a poller in a thread for a while; every poller it started is stopped at teardown, also
    after a failed assertion: one left running renews leases under every later test of the worker."""
    started: list[tuple[FleetPoller, threading.Thread]] = []

    def run(poller: FleetPoller, seconds: float) -> threading.Thread:
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        started.append((poller, thread))
        time.sleep(seconds)
        return thread

    yield run
    for poller, thread in started:
        poller.stop()
        thread.join(10)


def test_single_poller_owns_all_and_polls_at_cadence(lease_store, run_for):
    recorder = Recorder()
    acquired: list[str] = []
    poller = FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: fleet(5, cadence=0.2),
        poll=recorder,
        on_acquire=acquired.extend,
        config=PollerConfig(lease_ttl=3, threads=4),
    )
    thread = run_for(poller, 1.1)
    poller.stop()
    thread.join(5)
    assert sorted(acquired) == sorted(fleet(5))
    for machine_id in fleet(5):
        times = recorder.polls[machine_id]
        assert len(times) >= 3, times  # polled again and again …
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # … but never faster than its cadence, less the share a poll may start early to join a round
        # (and a few milliseconds for a thread to wake up on a busy box)
        assert min(gaps) >= 0.2 * (1 - EARLY_SHARE) - 0.005, gaps
    assert lease_store.holders([f"machine:{m}" for m in fleet(5)]) == {}  # handed back on shutdown


def test_two_pollers_share_the_fleet_and_one_takes_over_when_the_other_dies(lease_store, run_for):
    machines = fleet(10, cadence=0.2)
    rec_a, rec_b = Recorder(), Recorder()
    config = PollerConfig(lease_ttl=1.0, threads=4)
    a = FleetPoller(
        owner=new_owner_id("a"), store=lease_store, list_machines=lambda: machines, poll=rec_a, config=config
    )
    b = FleetPoller(
        owner=new_owner_id("b"), store=lease_store, list_machines=lambda: machines, poll=rec_b, config=config
    )
    ta = run_for(a, 0.3)
    tb = run_for(b, 2.0)
    assert a.owned() | b.owned() == set(machines)
    assert not a.owned() & b.owned()
    assert len(a.owned()) == len(b.owned()) == 5
    # "kill" b without a clean shutdown: it stops renewing and keeps its leases until they expire
    b._stop.set()
    b._pool.shutdown(wait=True)
    b.shutdown = lambda: None
    tb.join(5)
    # b's leases lapse after one lease period; a takes them over on its next renewal cycle
    wait_until(
        lambda: a.owned() == set(machines), message=lambda: f"a to own every machine; owns {a.owned()}"
    )
    a.stop()
    ta.join(5)


def test_dead_machines_back_off_and_never_starve_live_ones(lease_store, run_for):
    machines = fleet(20, cadence=0.2)
    dead = {f"m{i:03d}" for i in range(10)}  # half the room is powered off and times out
    recorder = Recorder(dead=dead, dead_delay=0.5)
    poller = FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: machines,
        poll=recorder,
        config=PollerConfig(lease_ttl=5, threads=4, backoff_thread_share=0.25),
    )
    thread = run_for(poller, 3.0)
    poller.stop()
    thread.join(10)
    live_counts = [len(recorder.polls[m]) for m in machines if m not in dead]
    dead_counts = [len(recorder.polls.get(m, [])) for m in dead]
    # Dead machines were tried, then backed off (2 s, 4 s…): a handful of polls each, not dozens.
    assert 1 <= max(dead_counts) <= 3, dead_counts
    # Live machines keep polling at their cadence (about 15 polls in 3 s) while 10 machines time out:
    # far more often than any dead one, even on a loaded machine.
    assert min(live_counts) >= 3 * max(dead_counts), (live_counts, dead_counts)
    assert poller.stats.failures == sum(dead_counts)


class NullStore:
    """A lease store that grants every lease: one poller, no Redis."""

    def acquire_many(self, keys, *, owner, ttl):
        return set(keys)

    def release_many(self, keys, *, owner):
        return None

    def holders(self, keys):
        return {}

    def holders_with_prefix(self, prefix):
        return {}


def test_backoff_doubles_to_a_ceiling_and_resets_on_success():
    answers = {"m": [False] * 10 + [True]}

    def poll(machine_id: str) -> bool:
        return answers[machine_id].pop(0)

    poller = FleetPoller(
        owner="p",
        store=NullStore(),
        list_machines=lambda: {"m": 2.0},
        poll=poll,
        config=PollerConfig(threads=1),
    )
    poller.lease_cycle()
    poller.wait_for_ownership()
    seen = []
    for _ in range(11):
        poller._queue[0].at = 0  # make the next poll due now
        poller.run_once()
        poller._pool.submit(lambda: None).result()  # wait for the poll to finish
        time.sleep(0.01)
        seen.append(poller.backoff_of("m"))
    assert seen[:6] == [2.0, 4.0, 8.0, 16.0, 32.0, BACKOFF_MAX]
    assert seen[9] == BACKOFF_MAX
    assert seen[10] == 0.0  # answered again: back to its normal cadence
    poller.shutdown()


def test_a_round_that_slips_never_polls_a_printer_sooner_than_its_cadence_allows():
    """A poll may start up to ``EARLY_SHARE`` of its cadence early to join a round. When the rounds
    themselves slip (a saturated box), a poll that began a little late must not be followed by one
    that starts early on top of it: no two rounds poll a printer closer than that."""
    poller = FleetPoller(
        owner="p",
        store=NullStore(),
        list_machines=lambda: {"m": 2.0},
        poll=lambda machine_id: True,
        config=PollerConfig(threads=1),
    )
    poller.lease_cycle()
    poller.wait_for_ownership()
    first_round = time.monotonic()
    poller._queue[0].at = first_round - 0.05  # due 50 ms ago: this round begins it a little late
    assert poller.run_once(first_round) == 1
    poller._pool.submit(lambda: None).result()  # wait for the poll to finish
    early = 2.0 * EARLY_SHARE
    # The next poll is due a cadence after the first was due; a round in its early window that comes
    # less than a cadence (less the early share) after the first round must leave it alone …
    assert poller.run_once(first_round + 2.0 - early - 0.01) == 0
    # … and the first round that is far enough on starts it.
    assert poller.run_once(first_round + 2.0 - early + 0.001) == 1
    poller.shutdown()


def test_slow_machine_setup_never_lets_the_leases_lapse(lease_store, run_for):
    """Setting up a large fleet takes longer than a lease; the leases are renewed meanwhile and the
    first machines are polled before the last ones are set up."""
    machines = fleet(200, cadence=0.2)
    first, last = min(machines), max(machines)
    recorder = Recorder()
    set_up: dict[str, float] = {}
    last_slice_may_finish = threading.Event()

    def slow_setup(ids: list[str]) -> None:
        time.sleep(0.5)  # driver init of one slice of machines
        if last in ids:  # the last slice is still being set up until the test has looked
            last_slice_may_finish.wait(30)
        set_up.update(dict.fromkeys(ids, time.monotonic()))

    poller = FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: machines,
        poll=recorder,
        on_acquire=slow_setup,
        config=PollerConfig(lease_ttl=1.0, threads=4),
    )
    began = time.monotonic()
    thread = run_for(poller, 0)
    try:
        wait_until(
            lambda: recorder.polls.get(first), message="the first slice is polled while the rest is set up"
        )
        time.sleep(max(0.0, began + 1.6 - time.monotonic()))  # setting up takes longer than the 1 s lease
        holders = lease_store.holders([f"machine:{m}" for m in machines])
        assert set(holders.values()) == {poller.owner} and len(holders) == len(machines)
        assert last not in set_up and not recorder.polls.get(last), "polled only once set up"
        last_slice_may_finish.set()
        wait_until(lambda: recorder.polls.get(last), message="the last slice is polled once set up")
    finally:
        last_slice_may_finish.set()
        poller.stop()
        thread.join(10)
    assert lease_store.holders([f"machine:{m}" for m in machines]) == {}


class Switch:
    """A machine that is down until ``back`` is set; the probe tells the same (or lies, if asked)."""

    def __init__(self, *, probe_says_back: bool | None = None) -> None:
        self.back = threading.Event()
        self.polls: list[float] = []
        self.probes = 0
        self.probe_says_back = probe_says_back

    def poll(self, machine_id: str) -> bool:
        self.polls.append(time.monotonic())
        return self.back.is_set()

    def probe(self, machine_id: str) -> bool | None:
        self.probes += 1
        return self.back.is_set() if self.probe_says_back is None else self.probe_says_back


def test_a_machine_back_after_a_long_outage_is_polled_within_a_cadence_not_its_backoff(
    lease_store, monkeypatch
):
    monkeypatch.setattr("mes.poller.BACKOFF_START", 30.0)  # as after minutes offline
    machine = Switch()
    poller = FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: {"m": 0.2},
        poll=machine.poll,
        probe=machine.probe,
        config=PollerConfig(lease_ttl=5, threads=2),
    )
    thread = threading.Thread(target=poller.run)
    thread.start()
    try:
        wait_until(lambda: poller.backoff_of("m") == 30.0, timeout=10, message="the machine backing off")
        wait_until(lambda: machine.probes >= 2, timeout=10, message="probes at the cadence")
        assert len(machine.polls) == 1  # probes, not polls, while it is down
        machine.back.set()
        # Seen back at the next probe, long before the 30 s backoff ends.
        wait_until(lambda: poller.backoff_of("m") == 0.0, timeout=10, message="polled again once back")
        assert len(machine.polls) == 2
        assert poller.stats.revived == 1
    finally:
        poller.stop()
        thread.join(10)


def test_a_probe_that_says_back_while_polls_fail_stops_until_the_backoff_ends(lease_store, monkeypatch):
    """Printers behind one host: the port answers for a printer that does not. One wasted poll, then the
    machine waits for its backoff instead of being polled every cadence."""
    monkeypatch.setattr("mes.poller.BACKOFF_START", 30.0)
    machine = Switch(probe_says_back=True)
    poller = FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: {"m": 0.1},
        poll=machine.poll,
        probe=machine.probe,
        config=PollerConfig(lease_ttl=5, threads=2),
    )
    thread = threading.Thread(target=poller.run)
    thread.start()
    try:
        wait_until(lambda: len(machine.polls) == 2, timeout=10, message="the poll the probe asked for")
        wait_until(lambda: poller.stats.failures == 2, timeout=10, message="that poll failing too")
        probes = machine.probes
        # Ten cadences later: no further probe or poll (each would show at once at this cadence).
        poller._stop.wait(1.0)
        assert (machine.probes, len(machine.polls)) == (probes, 2)
    finally:
        poller.stop()
        thread.join(10)


class ThreadRecorder(Recorder):
    """Also notes which thread ran each poll; every poll takes ``seconds`` (a printer's answer time)."""

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__()
        self.seconds = seconds
        self.threads: set[str] = set()

    def __call__(self, machine_id: str) -> bool:
        self.threads.add(threading.current_thread().name)
        if self.seconds:
            time.sleep(self.seconds)
        return super().__call__(machine_id)


def lane_poller(lease_store, machines: dict[str, float], poll, *, threads: int) -> FleetPoller:
    """A poller of ``machines`` with at most ``threads`` poll threads."""
    return FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: machines,
        poll=poll,
        config=PollerConfig(lease_ttl=5, threads=threads),
    )


def test_printers_that_answer_at_once_are_polled_back_to_back_by_one_thread(lease_store, run_for):
    """Every extra thread waiting for the GIL costs CPU: fast printers need no more than one."""
    machines = fleet(40, cadence=0.4)
    recorder = ThreadRecorder()
    poller = lane_poller(lease_store, machines, recorder, threads=16)
    run_for(poller, 2.0)
    poller.stop()
    assert all(len(recorder.polls.get(m, [])) >= 3 for m in machines), recorder.polls
    assert poller.stats.lanes == 1
    assert len(recorder.threads) == 1, recorder.threads


def test_a_lane_scope_that_fails_is_logged_and_polling_goes_on(lease_store, run_for, caplog):
    """The lane's scope (the poll locks' batched release) may fail at its end, e.g. while Redis is
    away: the poller says so and keeps polling."""

    @contextlib.contextmanager
    def failing_scope():
        yield
        raise ConnectionError("Redis went away")

    machines = fleet(3, cadence=0.2)
    recorder = Recorder()
    poller = FleetPoller(
        owner=new_owner_id("p"),
        store=lease_store,
        list_machines=lambda: machines,
        poll=recorder,
        config=PollerConfig(lease_ttl=5, threads=4),
        lane_scope=failing_scope,
    )
    run_for(poller, 1.0)
    poller.stop()
    assert all(len(recorder.polls.get(m, [])) >= 3 for m in machines), recorder.polls
    assert "a poll lane's scope failed" in caplog.text


def test_slow_printers_get_more_threads_until_every_machine_keeps_its_cadence(lease_store, run_for):
    """40 printers that take 30 ms each at a 0.4 s cadence are 3 s of waiting per second: one thread
    cannot keep up, so the rounds take more threads (up to ``threads``) and no machine falls behind."""
    machines = fleet(40, cadence=0.4)
    recorder = ThreadRecorder(seconds=0.03)
    poller = lane_poller(lease_store, machines, recorder, threads=16)
    run_for(poller, 1.5)  # the lanes grow
    counts_before = {m: len(recorder.polls.get(m, [])) for m in machines}
    time.sleep(2.0)  # then every machine is polled at about its cadence: ~5 polls in 2 s
    counts = {m: len(recorder.polls.get(m, [])) - counts_before[m] for m in machines}
    poller.stop()
    assert min(counts.values()) >= 3, counts
    assert poller.stats.lanes >= 3
    assert len(recorder.threads) >= 3, recorder.threads


def test_a_poll_that_waits_for_a_thread_counts_as_late(lease_store, run_for):
    """'Late' is when a poll really began: one thread for five printers that take 0.15 s each at a
    0.2 s cadence cannot begin them all within half a cadence of their time."""
    machines = fleet(5, cadence=0.2)
    poller = lane_poller(lease_store, machines, ThreadRecorder(seconds=0.15), threads=1)
    run_for(poller, 1.5)
    poller.stop()
    assert poller.stats.polls >= 5
    assert poller.stats.late >= 2, (poller.stats.late, poller.stats.polls)
