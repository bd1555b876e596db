"""``GET /api/machines/?limit=N`` with N machines that all have a live state: prints timings, asserts nothing.

    .venv/bin/python bench/machine_list_bench.py                # 1000 machines, embedded SQLite
    .venv/bin/python bench/machine_list_bench.py --count 300 --requests 50
    .venv/bin/python bench/machine_list_bench.py --gc-freeze startup

Target: p99 at most 100 ms for 1000 machines (with 30 requests, p99 is the slowest one). The machines use
the built-in ``octoprint`` driver (its ``init_machine`` never touches the network); their live state is
written the way a poll writes it (``printer_properties`` of a ``PrinterState`` with temperatures and a
job), straight through ``machines.state.update_state`` so that no reconciler runs during setup.

Requests go through the Django test client with a logged-in staff user (so the counts include the
session and user queries). Besides p50/p99 and queries it prints the full garbage collections that
fell into the timed requests: at this size their pauses, which walk every object the process holds,
decide p99 (``--gc-freeze`` shows the figures without them).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import time

from standalone import setup_django

setup_django("machine-list-bench-")

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from machines.machine_types.printer_3d import STATUS_FOR_PRINTER_STATUS, printer_properties  # noqa: E402
from machines.machine_types.printer_state import (  # noqa: E402
    PrinterJobInfo,
    PrinterState,
    PrinterStatus,
    Temperature,
)
from machines.models import MachineConfig, MachineSetting  # noqa: E402
from machines.registry import get_registry  # noqa: E402
from machines.state import update_state  # noqa: E402
from mes import gcfreeze  # noqa: E402

STATUSES = (PrinterStatus.PRINTING, PrinterStatus.IDLE, PrinterStatus.PAUSED, PrinterStatus.HEATING)


def printer_state(index: int) -> PrinterState:
    """A plausible report: two hot ends (or one), a bed, and a job with progress for busy printers."""
    status = STATUSES[index % len(STATUSES)]
    temperatures = {
        "tool0": Temperature(actual=214.6 + index % 3, target=215.0),
        "bed": Temperature(actual=59.8, target=60.0),
    }
    if index % 5 == 0:
        temperatures["tool1"] = Temperature(actual=24.1, target=0.0)
    job = None
    if status is not PrinterStatus.IDLE:
        progress = (index * 7) % 100 + 0.5
        job = PrinterJobInfo(
            file_name=f"part-{index}.gcode", progress=progress, time_used=60.0 * index, time_left=3600.0
        )
    return PrinterState(status=status, temperatures=temperatures, job=job, raw_state=status.value.title())


def setup(count: int) -> None:
    if MachineConfig.objects.count() != count:
        MachineConfig.objects.all().delete()
        machines = MachineConfig.objects.bulk_create(
            MachineConfig(name=f"printer-{i:04}", machine_type="printer-3d", driver="octoprint")
            for i in range(count)
        )
        MachineSetting.objects.bulk_create(
            MachineSetting(machine=m, key=key, value=value, config_type=config_type)
            for i, m in enumerate(machines)
            for key, value, config_type in (
                ("URL", f"http://10.0.{i // 250}.{i % 250 + 1}", "D"),
                ("API_KEY", f"key-{i}", "D"),
                ("NOZZLE_DIAMETER", "0.4", "M"),
                ("LOADED_MATERIALS", "PLA,PETG", "M"),
            )
        )
    started = time.perf_counter()
    registry = get_registry()  # loads and initializes every machine (one state write each)
    print(f"registry loaded and {count} machines initialized in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for index, machine in enumerate(registry.machines()):
        state = printer_state(index)
        properties = [p.as_dict() for p in printer_properties(state)]

        def mutate(raw: dict, state: PrinterState = state, properties: list = properties) -> None:
            raw["status"] = int(STATUS_FOR_PRINTER_STATUS[state.status])
            raw["status_text"] = state.raw_state
            raw["properties"] = properties
            raw["data"] = {**(raw.get("data") or {}), "printer_state": state.as_dict()}

        update_state(machine.id, mutate, default_status=500, seen=True)
    print(f"live states written in {time.perf_counter() - started:.1f} s")


class GcPauses:
    """Full (generation 2) collections and their pauses, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


def get(client: Client, url: str):
    response = client.get(url)
    # The test client ties each response to itself (``response.json`` is a partial of the response), a
    # reference cycle a real server does not have: it would leave every body to the cyclic collector.
    del response.json
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="machines (default 1000)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests (default 30)")
    parser.add_argument(
        "--gc-freeze",
        choices=["startup", "all"],
        help="freeze as a gunicorn worker does (startup: mes.gcfreeze after start-up, the registry "
        "refrozen when it loads), or everything after the warm-up request (all): shows how much of "
        "p99 is full collections walking the long-lived heap",
    )
    args = parser.parse_args()

    print(f"database: {connection.vendor}; cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}")
    call_command("migrate", verbosity=0)
    if args.gc_freeze == "startup":
        gcfreeze.freeze_after_startup()  # what mes.wsgi does in a gunicorn worker; the registry refreezes
    setup(args.count)
    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)
    url = f"/api/machines/?limit={args.count}"

    response = client.get(url)  # warm up (imports, URL resolver, registry)
    body = response.json()
    print(f"status {response.status_code}, {len(body['results'])} machines, {len(response.content)} bytes")

    samples = []
    cpu = []  # this process's CPU per request: steadier than wall time on a shared box
    queries = []
    gc_pauses = GcPauses()
    gc.collect()
    if args.gc_freeze == "all":
        gc.freeze()
    gc.callbacks.append(gc_pauses)
    for _ in range(args.requests):
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            get(client, url)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        queries.append(len(captured))
    gc.callbacks.remove(gc_pauses)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"GET {url}: p50 {statistics.median(samples):7.1f} ms   p99 {p99:7.1f} ms   "
        f"min {samples[0]:6.1f} ms   max {samples[-1]:6.1f} ms   (n={args.requests})"
    )
    print(f"CPU per request: p50 {statistics.median(cpu):.1f} ms, min {min(cpu):.1f} ms")
    print(f"SQL queries per request: min {min(queries)}, max {max(queries)}")
    pauses = gc_pauses.pauses
    print(
        f"full GC collections during them: {len(pauses)}, pause max {max(pauses, default=0):.1f} ms; "
        f"{len(gc.get_objects())} objects tracked by the GC in this process"
    )
    with CaptureQueriesContext(connection) as captured:
        get(client, url)
    for query in captured.captured_queries:
        print(f"  {query['time']}s  {query['sql'][:110]}")

    profiler = cProfile.Profile()
    profiler.enable()
    get(client, url)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    print(out.getvalue())


if __name__ == "__main__":
    main()
