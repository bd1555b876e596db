"""Faults survived by a whole installation in real processes: killed workers and pollers, a flushed or
restarted Redis, a printer that drops off the network, a web server killed during an upload.

The production-like tests run Celery on Redis with PostgreSQL (a fresh database per test); the
embedded ones run django-q on SQLite in a temporary var/. Every test stops all processes it started.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest
import redis
import requests

from tests.runtime.fault_support import Stack, free_port, fresh_postgres, gcode, running
from tests.services import private_redis, require_postgres, require_redis
from tests.waiting import wait_until

IDLE, PRINTING_CODES, AWAITING_BED_CLEAR, DISCONNECTED = 100, {110, 111, 114}, 201, 300


@pytest.fixture
def prod_stack(tmp_path):
    """Celery on a Redis server of its own, PostgreSQL in a database of its own; both gone afterwards."""
    server = require_postgres()
    with private_redis() as redis_url, fresh_postgres(server) as database_url:
        stack = Stack(tmp_path / "var", database_url=database_url, redis_url=redis_url, engine="celery")
        with running(stack):
            yield stack


@pytest.fixture
def embedded_stack(tmp_path):
    """The embedded default: django-q on the ORM broker, SQLite and the database cache in var/."""
    stack = Stack(tmp_path / "var")
    with running(stack):
        yield stack


@pytest.fixture(params=["embedded", "production"])
def any_stack(request):
    """The same fault on the embedded default and on Celery + Redis + PostgreSQL."""
    return request.getfixturevalue("embedded_stack" if request.param == "embedded" else "prod_stack")


def _status(machine: dict) -> int | None:
    return machine["live"]["status"]["code"]


def _all_status(stack: Stack, codes: set[int]) -> bool:
    machines = stack.machines()
    return bool(machines) and all(_status(m) in codes for m in machines.values())


class LabTech(threading.Thread):
    """Clears the plate of every machine that waits for it (at the printer, then in Lab MES)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.stop = threading.Event()
        self.cleared = 0
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.3):
            try:
                machines = self.stack.machines()
            except (requests.RequestException, AssertionError) as exc:  # a restart; try again
                self.problems.append(f"machine list: {exc}")
                continue
            for name, machine in machines.items():
                if _status(machine) != AWAITING_BED_CLEAR:
                    continue
                index = int(name.removeprefix("sim-"))
                self.stack.sim("POST", f"/printers/{index}/clear-bed")
                response = self.stack.api("POST", f"/api/jobs/machines/{machine['id']}/bed-cleared/")
                if response.status_code == 200:
                    self.cleared += 1
                elif response.status_code != 409:  # 409: cleared a moment ago
                    self.problems.append(f"bed-cleared {name}: {response.status_code} {response.text}")


def _pool_children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in result.stdout.split()]


def _pool_recovers_or_restart(stack: Stack, killed: set[int]) -> None:
    """Celery replaces killed pool children; one killed while the pool was still starting takes the
    parent down ("Could not start worker processes"), and `manage.py up` restarts it, as this does."""
    worker = stack.processes["worker"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            stack.restart("worker")
            return
        children = set(_pool_children(worker.pid))
        if len(children) >= 2 and not children & killed:
            time.sleep(1.0)  # past the pool's start-up check
            if worker.poll() is None:
                return
        time.sleep(0.1)
    raise AssertionError(f"the Celery worker neither replaced its pool nor exited\n{stack.logs(20)}")


@pytest.mark.slow
def test_workers_and_pollers_killed_twenty_times_lose_no_job_and_print_none_twice(prod_stack):
    stack = prod_stack
    stack.setup()
    printers, jobs_count = 4, 20
    stack.start_simulator(printers, speed=40)
    for index in range(1, printers + 1):
        # Every answer takes a moment, so a dispatch (state, files, upload, start) is long enough to be hit.
        stack.sim("POST", f"/printers/{index}/faults", json={"slow": 0.15})
    stack.start_web()
    stack.start_poller()
    stack.start_worker()
    stack.start_beat()
    wait_until(lambda: _all_status(stack, {IDLE}), timeout=60, message="every printer idle in Lab MES")

    job_ids = [stack.submit(f"part-{n:02d}", gcode(seconds=90)) for n in range(jobs_count)]
    tech = LabTech(stack)
    tech.start()
    rng = random.Random(6)
    kills: list[dict] = []
    try:
        for iteration in range(20):
            if iteration % 2 == 0:
                target = {"dispatching", "uploaded"}  # kill during a dispatch
                delay = rng.uniform(0.0, 0.4)
            else:
                target = {"printing"}  # kill during a print
                delay = rng.uniform(0.0, 1.5)
            with_poller = iteration % 3 == 2
            only_pool = iteration % 4 == 3  # the worker's pool child dies, its parent survives
            with contextlib.suppress(AssertionError):  # near the end: kill anyway, at a random moment
                wait_until(
                    lambda t=target: set(stack.job_states().values()) & t,
                    timeout=15,
                    interval=0.05,
                    message=f"a job {target}",
                )
            time.sleep(delay)
            states = sorted(stack.job_states().values())
            if only_pool:
                killed = set(_pool_children(stack.processes["worker"].pid))
                for child in killed:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
            else:
                stack.kill("worker")
            if with_poller:
                stack.kill("poller")
            kills.append(
                {
                    "iteration": iteration,
                    "victim": "pool" if only_pool else "worker",
                    "poller": with_poller,
                    "dispatching": sum(s in {"dispatching", "uploaded"} for s in states),
                    "printing": states.count("printing"),
                }
            )
            time.sleep(rng.uniform(0.0, 0.5))
            if only_pool:
                _pool_recovers_or_restart(stack, killed)
            else:
                stack.restart("worker")
            if with_poller:
                stack.restart("poller")

        def all_done():
            states = stack.job_states()
            return len(states) == jobs_count and all(s == "completed" for s in states.values())

        if stack.processes["worker"].poll() is not None:
            stack.restart("worker")  # as `manage.py up` would
        try:
            wait_until(all_done, timeout=150, interval=0.5, message="every job completed")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {stack.job_states()}\n{stack.logs(40)}") from None
    finally:
        tech.stop.set()
        tech.join(10)

    states = stack.job_states()
    assert sorted(states) == sorted(job_ids)  # none lost, none invented
    assert set(states.values()) == {"completed"}
    files = dict(stack.query("SELECT printer_file_name, state FROM jobs_job"))
    printed: dict[str, int] = {}
    for printer in stack.sim_printers():
        for name, count in printer["starts_by_file"].items():
            printed[name] = printed.get(name, 0) + count
        assert printer["dirty_bed_starts"] == 0, printer
    assert printed == dict.fromkeys(files, 1), "a job was printed twice (or not at all)"
    summary = stack.sim("GET", "")
    assert summary["prints_started"] == jobs_count
    assert sum(1 for k in kills if k["dispatching"]) >= 3, kills  # the loop really hit dispatches
    waits = stack.query(
        "SELECT MAX(p.created_at - d.created_at) FROM jobs_jobevent d JOIN jobs_jobevent p"
        " ON p.job_id = d.job_id AND p.to_state = 'printing' WHERE d.to_state = 'dispatching'"
    )
    print(f"\nkills: {kills}\nlongest dispatching→printing: {waits[0][0]}; beds cleared: {tech.cleared}")


# --- Redis flushed or restarted ----------------------------------------------------------------------

CADENCE = 6.0  # seconds between polls of a machine here: long enough to look between two polls


def _live(stack: Stack) -> dict[str, dict]:
    return {name: machine["live"] for name, machine in stack.machines().items()}


def _redis_loss(stack: Stack, lose) -> None:
    stack.setup()
    stack.start_simulator(2, speed=40)
    stack.shell(
        "from machines.models import MachineConfig\n"
        "from machines.services import machine_update\n"
        "for config in MachineConfig.objects.all():\n"
        f"    machine_update(machine=config, settings={{'POLL_INTERVAL': {CADENCE}}})\n"
    )
    stack.start_web()
    stack.start_poller()
    stack.start_worker()
    stack.start_beat()
    wait_until(lambda: _all_status(stack, {IDLE}), timeout=60, message="every printer idle in Lab MES")
    first = [stack.submit(f"before-{n}", gcode(seconds=400)) for n in range(4)]

    def two_printing_two_queued():
        states = sorted(stack.job_states().values())
        return states == ["printing", "printing", "queued", "queued"] and _all_status(stack, PRINTING_CODES)

    wait_until(two_printing_two_queued, timeout=60, message="two jobs printing, two queued")
    before = _live(stack)
    queued = {pk for pk, state in stack.job_states().items() if state == "queued"}

    lost_at = time.time()
    outage = lose()

    # Meanwhile the API serves the last known state from the database, marked stale.
    during = _live(stack)
    assert set(during) == set(before)
    from_database = 0
    for name, live in during.items():
        assert live["status"]["code"] == before[name]["status"]["code"], (name, live)
        if live["state_source"] == "database":
            from_database += 1
            assert live["stale"] is True
    assert from_database >= 1, during  # at least one machine was read between two of its polls

    # Within one poll the live state is back, fresh, and it is the printers' real state.
    def fresh():
        live = _live(stack)
        return all(
            m["state_source"] == "cache" and not m["stale"] and m["status"]["code"] in PRINTING_CODES
            for m in live.values()
        )

    wait_until(fresh, timeout=CADENCE + 2, interval=0.2, message="live state back within one poll")
    # The queue is in the database, so nothing waiting was lost.
    assert {pk for pk, state in stack.job_states().items() if state == "queued"} == queued
    queue = stack.api("GET", "/api/jobs/queue/").json()
    assert {item["id"] for item in queue["items"]} == queued
    after = stack.submit("after", gcode(seconds=100))  # new work is still handed to the workers

    tech = LabTech(stack)
    tech.start()
    revived: list[str] = []

    def all_completed() -> bool:
        # In production `manage.py up` restarts a process that exited (a Celery worker may exit on a
        # broker that vanished under it mid-ack); the test plays that supervisor.
        revived.extend(stack.revive_exited(["web", "poller", "worker", "beat"]))
        return stack.job_states() == dict.fromkeys(expected, "completed")

    try:
        expected = {*first, after}
        wait_until(
            all_completed, timeout=120, interval=0.5, message="every job completed after the Redis loss"
        )
    except AssertionError as exc:
        raise AssertionError(
            f"{exc} (restarted: {revived}): {stack.job_states()}\n{stack.logs(40)}"
        ) from None
    finally:
        tech.stop.set()
        tech.join(10)
    assert stack.sim("GET", "")["prints_started"] == 5
    print(f"\nRedis lost at {lost_at:.1f}; outage: {outage}")


@pytest.mark.slow
def test_redis_flushed_the_fleet_state_comes_back_and_no_job_is_lost(prod_stack):
    client = redis.Redis.from_url(prod_stack.redis_url)
    _redis_loss(prod_stack, lambda: client.flushdb())


@pytest.mark.slow
def test_redis_restarted_empty_the_fleet_state_comes_back_and_no_job_is_lost(tmp_path):
    server = require_postgres()
    require_redis()  # the shared server answers, so a private one can run here too
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with fresh_postgres(server) as database_url:
        stack = Stack(tmp_path / "var", database_url=database_url, redis_url=redis_url, engine="celery")
        with running(stack):
            stack.start("redis", argv)
            wait_until(lambda: _pings(redis_url), timeout=10, message="the private redis-server")

            def restart() -> dict:
                stack.kill("redis")
                time.sleep(3)
                during = stack.api("GET", "/api/machines/")
                # Served from the database, marked stale: Redis holds copies, not the truth.
                assert during.status_code == 200, during.text
                assert {m["live"]["state_source"] for m in during.json()["results"]} == {"database"}
                stack.restart("redis")
                wait_until(lambda: _pings(redis_url), timeout=10, message="redis-server back")
                return {"machine list while Redis was down": during.status_code}

            _redis_loss(stack, restart)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


# --- a printer drops off the network and comes back -------------------------------------------------

DEFAULT_CADENCE = 2.0


def _job_reasons(stack: Stack, job_id: str) -> list[tuple[str, str]]:
    key = job_id if stack.database_url else job_id.replace("-", "")
    return stack.query(
        "SELECT to_state, reason FROM jobs_jobevent WHERE job_id = %s AND kind = 'transition' ORDER BY id",
        (key,),
    )


@pytest.mark.slow
def test_a_printer_that_goes_offline_is_disconnected_with_the_reason_and_its_job_comes_back(any_stack):
    stack = any_stack
    stack.setup()
    stack.start_simulator(2, speed=20)
    stack.start_web()
    stack.start_poller()
    stack.start_worker()
    stack.start_beat()
    wait_until(lambda: _all_status(stack, {IDLE}), timeout=60, message="every printer idle in Lab MES")
    job_id = stack.submit("offline-part", gcode(seconds=300))  # 15 s at x20
    wait_until(lambda: stack.job_states()[job_id] == "printing", timeout=30, message="the job printing")
    key = job_id if stack.database_url else job_id.replace("-", "")
    machine_pk = str(
        uuid.UUID(str(stack.query("SELECT machine_id FROM jobs_job WHERE id = %s", (key,))[0][0]))
    )
    machine = next(m for m in stack.machines().values() if m["id"] == machine_pk)
    index = int(machine["name"].removeprefix("sim-"))
    other = next(name for name in stack.machines() if name != machine["name"])
    wait_until(
        lambda: _status(stack.machines()[machine["name"]]) in PRINTING_CODES, timeout=10, message="printing"
    )

    stack.sim("POST", f"/printers/{index}/faults", json={"offline": True})
    went_offline = time.monotonic()

    def disconnected():
        current = stack.machines()[machine["name"]]
        return current if _status(current) == DISCONNECTED else None

    gone = wait_until(
        disconnected,
        timeout=DEFAULT_CADENCE + 1.5,
        interval=0.05,
        message="the machine disconnected within one cadence",
    )
    noticed = time.monotonic() - went_offline
    assert gone["live"]["status_text"].startswith("Unreachable:"), gone["live"]  # the reason is shown
    # The reconciler cannot see the print any more: the job is unknown, not failed.
    wait_until(lambda: stack.job_states()[job_id] == "unknown", timeout=5, message="the job unknown")
    assert _job_reasons(stack, job_id)[-1][1].startswith("lost contact with the printer")
    assert _status(stack.machines()[other]) == IDLE  # its neighbour is not affected

    stack.sim("DELETE", f"/printers/{index}/faults")
    came_back = time.monotonic()
    wait_until(
        lambda: _status(stack.machines()[machine["name"]]) in PRINTING_CODES,
        timeout=DEFAULT_CADENCE + 1.5,
        interval=0.05,
        message="the machine back to printing within one cadence",
    )
    back_after = time.monotonic() - came_back
    wait_until(lambda: stack.job_states()[job_id] == "printing", timeout=5, message="the job printing again")
    assert _job_reasons(stack, job_id)[-1] == ("printing", "the printer reports printing")
    # It finishes normally, printed once.
    wait_until(lambda: stack.job_states()[job_id] == "completed", timeout=60, message="the job completed")
    assert [state for state, _ in _job_reasons(stack, job_id)][-4:] == [
        "printing",
        "unknown",
        "printing",
        "completed",
    ]
    assert stack.sim("GET", "")["prints_started"] == 1
    print(f"\ndisconnected after {noticed:.2f} s, back after {back_after:.2f} s")


# --- the web server killed during an upload --------------------------------------------------------

UPLOAD_BYTES = 20 * 1024 * 1024  # large enough that processing takes a while to kill into


class SlowMultipart:
    """A multipart body (name + a ~20 MB G-code file) read slowly, as from a student's slow link."""

    chunk = 1024 * 1024

    def __init__(self, name: str, *, pause: float) -> None:
        self.boundary = uuid.uuid4().hex
        head = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}.gcode"\r\n'
            "Content-Type: text/x-gcode\r\n\r\n"
        ).encode()
        self.parts = [
            head,
            gcode(seconds=60, pad_bytes=UPLOAD_BYTES),
            f"\r\n--{self.boundary}--\r\n".encode(),
        ]
        self.total = sum(len(part) for part in self.parts)
        self.body = b"".join(self.parts)
        self.sent = 0
        self.pause = pause
        self.all_sent = threading.Event()

    def __len__(self) -> int:
        return self.total

    def read(self, size: int = -1) -> bytes:
        if self.sent >= self.total:
            self.all_sent.set()
            return b""
        time.sleep(self.pause)
        piece = self.body[self.sent : self.sent + self.chunk]
        self.sent += len(piece)
        return piece

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"


def _upload_in_background(stack: Stack, body: SlowMultipart) -> dict:
    outcome: dict = {}

    def send():
        try:
            # A loaded box (CI runs four test processes on two cores) may take over 30 s for the file.
            response = stack.api(
                "POST", "/api/jobs/", data=body, headers={"Content-Type": body.content_type}, timeout=180
            )
            outcome["status"] = response.status_code
            if response.status_code != 201:
                outcome["body"] = response.text[:500]
        except requests.RequestException as exc:
            outcome["error"] = type(exc).__name__

    outcome["thread"] = threading.Thread(target=send, daemon=True)
    outcome["thread"].start()
    return outcome


def _media_files(stack: Stack) -> dict[str, int]:
    media = stack.var_dir / "media"
    return {str(p.relative_to(media)): p.stat().st_size for p in media.rglob("*") if p.is_file()}


def _stored_jobs(stack: Stack) -> dict[str, tuple[str, int]]:
    return {
        name: (state, size) for name, state, size in stack.query("SELECT file, state, size FROM jobs_job")
    }


@pytest.mark.slow
def test_killing_the_web_server_during_an_upload_leaves_no_half_written_job_or_file(any_stack):
    stack = any_stack
    stack.env["TMPDIR"] = str(stack.var_dir / "tmp")  # Django's upload temp files stay in this test's var/
    (stack.var_dir / "tmp").mkdir(parents=True)
    stack.setup()
    stack.start_simulator(1, speed=1)  # a printer the part fits, so a whole upload is accepted
    stack.start_web()

    def check_nothing_half_written(results: list[dict], file_size: int) -> None:
        """Whatever the moment of the kill: a job is stored whole with its file, or not at all."""
        jobs = _stored_jobs(stack)
        files = _media_files(stack)
        assert set(jobs) <= set(files), (results, files, jobs)  # no job without its file
        # A kill in the milliseconds between storing the file and the commit leaves a file no job names:
        # the hourly sweep deletes it (here without its grace period, as nothing else is uploading).
        swept = stack.shell(
            "import datetime as dt\n"
            "from jobs.services.retention import job_files_sweep_orphans\n"
            "print(len(job_files_sweep_orphans(older_than=dt.timedelta(0))))\n"
        )
        results[-1]["orphans swept"] = int(swept)
        files = _media_files(stack)
        assert set(files) == set(jobs), (results, files, jobs)  # and then no orphan file either
        for name, (state, size) in jobs.items():
            assert state == "queued" and files[name] == size == file_size, (name, state, size)
        listed = stack.api("GET", "/api/jobs/").json()
        listed = listed["results"] if isinstance(listed, dict) else listed
        assert len(listed) == len(jobs)

    # 1. Killed mid-body.
    body = SlowMultipart("cut-off", pause=0.05)
    outcome = _upload_in_background(stack, body)
    wait_until(lambda: body.sent >= body.total // 2, timeout=30, interval=0.01, message="half the body sent")
    stack.kill("web")
    outcome["thread"].join(30)
    assert outcome.get("error"), outcome  # the kill really cut the upload off
    results = [{"kill": "mid-body", **{k: v for k, v in outcome.items() if k != "thread"}}]
    stack.restart("web")
    wait_until(lambda: stack._answers(f"{stack.web_url}/api/health/"), timeout=60, message="web back")
    check_nothing_half_written(results, len(body.parts[1]))
    assert _stored_jobs(stack) == {}

    # 2. Not killed: how long the server takes from the last byte to its answer (check, hash, store).
    body = SlowMultipart("whole", pause=0.0)
    outcome = _upload_in_background(stack, body)
    wait_until(body.all_sent.is_set, timeout=60, interval=0.005, message="the whole body sent")
    sent_at = time.monotonic()
    outcome["thread"].join(200)
    processing = time.monotonic() - sent_at
    assert outcome.get("status") == 201, outcome
    check_nothing_half_written(results, len(body.parts[1]))

    # 3. Killed while the server processes the complete body, at moments spread over that time.
    for fraction in (0.5, 0.95):
        body = SlowMultipart(f"late-{fraction}", pause=0.0)
        outcome = _upload_in_background(stack, body)
        wait_until(body.all_sent.is_set, timeout=60, interval=0.005, message="the whole body sent")
        time.sleep(processing * fraction)
        stack.kill("web")
        outcome["thread"].join(30)
        results.append(
            {"kill": f"{fraction:.0%} of processing", **{k: v for k, v in outcome.items() if k != "thread"}}
        )
        stack.restart("web")
        wait_until(lambda: stack._answers(f"{stack.web_url}/api/health/"), timeout=60, message="web back")
        check_nothing_half_written(results, len(body.parts[1]))
    print(f"\nprocessing {processing:.2f} s; uploads: {results}; jobs stored: {len(_stored_jobs(stack))}")
