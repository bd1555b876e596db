"""The staff dashboard (/dashboard/) over 100,000 past jobs: its query count and render time for 14 and
90 days. Prints figures, asserts nothing.

    .venv/bin/python bench/dashboard_bench.py                 # embedded SQLite in a temporary directory
    MES_VAR_DIR=/tmp/dash .venv/bin/python bench/dashboard_bench.py --reuse   # seed once, measure again
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_dashboard .venv/bin/python bench/dashboard_bench.py

The jobs ended over the last year on 40 printers, owned by 200 students in 10 groups; each has its
queue events (queued, dispatching, the end) and its accounting row (print time, grams). Target (issue 16):
queries stay fast at 100,000 past jobs. The page is rendered whole (view, reads, template) through
Django's test client, logged in as staff.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
import uuid
from decimal import Decimal

from standalone import setup_django

setup_django("dashboard-bench-")

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs.models import Job, JobEvent  # noqa: E402
from jobs.states import JobState  # noqa: E402
from machines.models import MachineConfig  # noqa: E402
from maintenance.models import MachineUsage  # noqa: E402

MACHINES = 40
USERS = 200
GROUPS = 10
DAYS_OF_HISTORY = 365
REASONS = [
    "Nozzle clogged",
    "First layer did not stick",
    "Spaghetti detected",
    "Filament ran out",
    "Printer went offline",
    "Thermal runaway",
    "Layer shift",
    "Cancelled at the printer",
    "Bed levelling failed",
    "Warping",
    "Power loss",
    "Unknown printer error",
]
BATCH = 5_000


def seed(jobs: int, rng: random.Random) -> None:
    """Machines, users in groups, and ``jobs`` ended jobs with events and usage (bulk_create)."""
    machines = MachineConfig.objects.bulk_create(
        MachineConfig(name=f"bench-{n:03d}", machine_type="printer-3d", driver="x") for n in range(MACHINES)
    )
    groups = Group.objects.bulk_create(Group(name=f"course-{n}") for n in range(GROUPS))
    users = get_user_model().objects.bulk_create(get_user_model()(username=f"s{n:04d}") for n in range(USERS))
    membership = get_user_model().groups.through
    membership.objects.bulk_create(
        membership(user_id=user.pk, group_id=groups[index % GROUPS].pk) for index, user in enumerate(users)
    )
    # created_at is auto_now_add: the history is in the past, so the bench writes the times itself.
    JobEvent._meta.get_field("created_at").auto_now_add = False
    now = timezone.now()
    done = 0
    while done < jobs:
        rows, events, usage = [], [], []
        for _ in range(min(BATCH, jobs - done)):
            job_id = uuid.uuid4()
            machine = rng.choice(machines)
            started = now - dt.timedelta(seconds=rng.uniform(3600, DAYS_OF_HISTORY * 86400))
            hours = rng.uniform(0.2, 8)
            finished = started + dt.timedelta(hours=hours)
            failed = rng.random() < 0.12
            cancelled = not failed and rng.random() < 0.05
            state = JobState.FAILED if failed else JobState.CANCELLED if cancelled else JobState.COMPLETED
            queued = started - dt.timedelta(seconds=rng.expovariate(1 / 1800) + 30)
            dispatched = started - dt.timedelta(seconds=20)
            rows.append(
                Job(
                    id=job_id,
                    owner=rng.choice(users),
                    name=f"part {done}",
                    printer_file_name=f"{job_id}.gcode",
                    state=state,
                    state_reason=rng.choice(REASONS) if failed else "",
                    machine=machine,
                    created_at=queued,
                    queued_at=queued,
                    started_at=started,
                    finished_at=finished,
                )
            )
            for to_state, at in (
                (JobState.QUEUED, queued),
                (JobState.DISPATCHING, dispatched),
                (state, finished),
            ):
                events.append(
                    JobEvent(
                        job_id=job_id,
                        kind="transition",
                        to_state=to_state,
                        actor_kind="scheduler",
                        created_at=at,
                    )
                )
            grams = Decimal(str(round(hours * rng.uniform(5, 15), 2)))
            usage.append(
                MachineUsage(
                    job_id=job_id,
                    machine=machine,
                    print_seconds=int(hours * 3600),
                    filament_grams=grams,
                    failed=failed,
                    created_at=finished,
                )
            )
            done += 1
        Job.objects.bulk_create(rows)
        JobEvent.objects.bulk_create(events)
        MachineUsage.objects.bulk_create(usage)
    JobEvent._meta.get_field("created_at").auto_now_add = True


class Queries:
    """Counts and times the SQL a request runs (an execute wrapper: nothing resets it mid-request)."""

    def __init__(self) -> None:
        self.timings: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.timings.append(((time.perf_counter() - start) * 1000, sql))


def measure(client: Client, path: str, repeats: int) -> tuple[Queries, float, float, int]:
    """(the warm-up's queries, p50 ms, p95 ms, bytes) of rendering ``path`` ``repeats`` times."""
    queries = Queries()
    with connection.execute_wrapper(queries):
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return queries, statistics.median(samples), p95, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the jobs already there (with MES_VAR_DIR or DATABASE_URL set)",
    )
    parser.add_argument("--verbose", action="store_true", help="each query of the first render, timed")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.reuse and Job.objects.exists():
        print(f"database: {connection.vendor}; reusing its jobs", flush=True)
    else:
        print(f"database: {connection.vendor}; seeding {args.jobs:,} past jobs…", flush=True)
        seed(args.jobs, random.Random(args.seed))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # both databases: fresh statistics for the planner
    print(
        f"  {Job.objects.count():,} jobs, {JobEvent.objects.count():,} events, "
        f"{MachineUsage.objects.count():,} usage rows in {time.perf_counter() - started:.1f} s"
    )
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    today = timezone.localdate()
    print(f"/dashboard/ rendered {args.repeats} times per range (after one warm-up):")
    for days in (14, 90):
        start = today - dt.timedelta(days=days - 1)
        path = f"/dashboard/?from={start.isoformat()}&to={today.isoformat()}"
        in_range = Job.objects.filter(finished_at__date__gte=start).count()
        queries, p50, p95, size = measure(client, path, args.repeats)
        print(
            f"  {days:>2} days ({in_range:>6,} jobs in range): {len(queries.timings)} queries, "
            f"p50 {p50:7.1f} ms, p95 {p95:7.1f} ms, {size / 1024:.0f} KiB of HTML"
        )
        if args.verbose:
            for ms, sql in queries.timings:
                print(f"      {ms:7.1f} ms  {sql[:110]}")
        for table in ("utilisation", "users"):
            queries, p50, p95, size = measure(client, f"{path}&format=csv&table={table}", args.repeats)
            print(
                f"      CSV {table:<12} {len(queries.timings)} queries, p50 {p50:7.1f} ms, p95 {p95:7.1f} ms"
            )


if __name__ == "__main__":
    main()
