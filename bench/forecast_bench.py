"""The stored ETA forecast at 1,000 machines and 2,000 queued jobs: what one recompute costs, what a
page's read costs, what the poller's "does this change matter?" costs, and how a burst of changes
coalesces. Prints figures, asserts nothing.

    .venv/bin/python bench/forecast_bench.py            # embedded SQLite, temporary var/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_forecast .venv/bin/python bench/forecast_bench.py

The lab: Mon-Fri 08:00-18:00, half the machines attended-only, 600 of them printing (time left
reported by the printer), 2,000 queued jobs of 100 students (10 min to 6 h each).
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from datetime import time as clock_time

from standalone import setup_django

setup_django("forecast-bench-")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs import forecast_store  # noqa: E402
from jobs.forecast import FORECAST_MAX_JOBS, forecast_run  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.states import JobState  # noqa: E402
from machines.machine_types.printer_3d import Printer3DStatus  # noqa: E402
from machines.models import MachineConfig, MachineSetting  # noqa: E402
from machines.state import read_states, update_state  # noqa: E402
from mes import engine  # noqa: E402
from policies.models import MachinePolicy, OpeningHours  # noqa: E402

MACHINES, PRINTING, QUEUED, STUDENTS = 1000, 600, 2000, 100


def setup() -> list[MachineConfig]:
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    machines = MachineConfig.objects.bulk_create(
        MachineConfig(name=f"printer-{i:04}", machine_type="printer-3d", driver="octoprint")
        for i in range(MACHINES)
    )
    MachineSetting.objects.bulk_create(
        MachineSetting(machine=m, key=key, value=value, config_type=kind)
        for i, m in enumerate(machines)
        for key, value, kind in (("URL", f"http://10.0.{i // 250}.{i % 250 + 1}", "D"), ("API_KEY", "k", "D"))
    )
    MachinePolicy.objects.bulk_create(
        MachinePolicy(machine=m, unattended_allowed=i % 2 == 0) for i, m in enumerate(machines)
    )
    OpeningHours.objects.bulk_create(
        OpeningHours(weekday=d, opens=clock_time(8), closes=clock_time(18)) for d in range(5)
    )
    rng = random.Random(7)
    owners = [get_user_model().objects.create_user(f"student{i}") for i in range(STUDENTS)]
    Job.objects.bulk_create(
        Job(
            owner=owners[i % STUDENTS],
            name=f"running-{i}",
            printer_file_name=f"running-{i}.gcode",
            state=JobState.PRINTING,
            machine=machines[i],
            started_at=timezone.now(),
            progress=rng.uniform(1, 99),
            metadata={"estimated_time_s": rng.randint(600, 6 * 3600)},
        )
        for i in range(PRINTING)
    )
    Job.objects.bulk_create(
        Job(
            owner=owners[rng.randrange(STUDENTS)],
            name=f"job-{i}",
            printer_file_name=f"job-{i}.gcode",
            state=JobState.QUEUED,
            position=(i + 1) * 1024,
            metadata={"estimated_time_s": rng.randint(600, 6 * 3600)},
        )
        for i in range(QUEUED)
    )
    for index, machine in enumerate(machines):
        busy = index < PRINTING

        def mutate(raw: dict, busy=busy, index=index) -> None:
            raw["status"] = int(Printer3DStatus.PRINTING if busy else Printer3DStatus.IDLE)
            raw["initialized"] = True
            if busy:
                job = {"file_name": f"running-{index}.gcode", "progress": 50.0, "time_left": 1800.0}
                raw["data"] = {"printer_state": {"status": "printing", "job": job}}

        update_state(str(machine.pk), mutate, default_status=500, seen=True)
    return machines


def timed(label: str, fn, repeats: int = 5) -> None:
    samples, queries = [], 0
    for _ in range(repeats):
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        queries = len(captured)
    print(
        f"  {label:<58} median {statistics.median(samples):9.3f} ms   max {max(samples):9.2f} ms"
        f"   {queries} queries   (n={repeats})"
    )


def main() -> None:
    machines = setup()
    sent: list[str] = []
    engine.send_now = lambda path, *args, **kwargs: sent.append(path)
    # A Tuesday 10:00 UTC: the lab is open, attended-only machines take what ends before 17:30.
    fixed = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    timezone.now = lambda: fixed
    print(
        f"{connection.vendor}: {MACHINES} machines ({PRINTING} printing), {QUEUED} queued jobs,"
        f" {STUDENTS} students, opening hours, half the machines attended-only"
    )
    timed(
        f"recompute, first {FORECAST_MAX_JOBS} waiting jobs (FORECAST_MAX_JOBS)",
        forecast_store.forecast_refresh,
    )
    timed(f"recompute, all {QUEUED} waiting jobs", lambda: forecast_run(limit=QUEUED), repeats=3)
    stored = forecast_store.forecast_stored()
    placed = sum(1 for item in stored.items.values() if item.start)
    print(
        f"  stored forecast: {len(stored.items)} jobs, {placed} with a start; watches {len(forecast_store.watch_memo.get())} machines"
    )
    timed(
        "a page's read (forecast_latest, stored forecast current)",
        forecast_store.forecast_latest,
        repeats=200,
    )

    states = read_states([str(m.pk) for m in machines[:2]] + [str(machines[-1].pk)])
    busy_id, idle_id = str(machines[0].pk), str(machines[-1].pk)
    busy = states[busy_id]

    def variant(state, **job):
        data = dict(state.data)
        printer = dict(state.data.get("printer_state") or {"status": "idle"})
        printer["job"] = {"file_name": "x.gcode", **(printer.get("job") or {}), **job}
        data["printer_state"] = printer
        return type(state)(**{**state.__dict__, "data": data})

    tick = variant(busy, progress=50.5, time_left=1790.0)
    drift = variant(busy, progress=50.5, time_left=1800.0 + 600)
    checks = [
        ("temperature-only poll (report unchanged)", busy_id, busy, busy),
        ("progress tick, end within tolerance", busy_id, busy, tick),
        ("progress tick, end moved by 10 min", busy_id, busy, drift),
        (
            "idle machine's report changed (no effect)",
            idle_id,
            states[idle_id],
            variant(states[idle_id], progress=1.0),
        ),
    ]
    for label, machine_id, old, new in checks:
        forecast_store.watch_memo.clear()
        forecast_store.watch_memo.get()
        outcome = forecast_store.machine_change_matters(machine_id=machine_id, old=old, new=new)
        timed(
            f"change check: {label} -> {'recompute' if outcome else 'skip'}",
            lambda m=machine_id, o=old, n=new: forecast_store.machine_change_matters(
                machine_id=m, old=o, new=n
            ),
            repeats=2000,
        )

    cache.delete(f"engine:pending:{forecast_store.REFRESH_KEY}")
    sent.clear()
    for _ in range(1000):
        forecast_store.forecast_refresh_request()
    print(f"  a burst of 1000 recompute requests while none runs: {len(sent)} task(s) sent")
    forecast_store.forecast_refresh_task()
    for _ in range(1000):
        forecast_store.forecast_refresh_request()
    print(f"  then one run and another burst of 1000: {len(sent)} task(s) sent in all")


if __name__ == "__main__":
    main()
