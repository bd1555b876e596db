"""The scheduler with spools at 1,000 idle printers: time and SQL queries per run. Prints, asserts nothing.

    .venv/bin/python bench/scheduler_materials_bench.py            # embedded SQLite, temporary var/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sched .venv/bin/python bench/scheduler_materials_bench.py

Every printer is idle with a spool on T0 (PLA or PETG). Run 1: 200 queued jobs that no spool fits (a
colour nobody loaded), so every job is compared with every printer and nothing is dispatched. Run 2:
the same with tracking off. Run 3: 200 PLA jobs that fit, dispatched. Also the queue page's
"why it waits" reasons for 50 jobs. Spools and maintenance are read once per run, whatever the size.
"""

from __future__ import annotations

import time
from decimal import Decimal

from standalone import setup_django

setup_django("sched-materials-bench-")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from jobs.models import Job  # noqa: E402
from jobs.selectors import queue_waiting_reasons  # noqa: E402
from jobs.services.scheduler import schedule_run  # noqa: E402
from jobs.states import JobState  # noqa: E402
from machines.machine_types.printer_3d import STATUS_FOR_PRINTER_STATUS  # noqa: E402
from machines.machine_types.printer_state import PrinterStatus  # noqa: E402
from machines.models import MachineConfig, MachineSetting  # noqa: E402
from machines.registry import get_registry  # noqa: E402
from machines.state import update_state  # noqa: E402
from materials.models import MaterialType, Spool, SpoolLoad  # noqa: E402
from mes import engine  # noqa: E402

COUNT, JOBS = 1000, 200


def setup() -> None:
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    machines = MachineConfig.objects.bulk_create(
        MachineConfig(name=f"printer-{i:04}", machine_type="printer-3d", driver="octoprint")
        for i in range(COUNT)
    )
    MachineSetting.objects.bulk_create(
        MachineSetting(machine=m, key=key, value=value, config_type=kind)
        for i, m in enumerate(machines)
        for key, value, kind in (("URL", f"http://10.0.{i // 250}.{i % 250 + 1}", "D"), ("API_KEY", "k", "D"))
    )
    pla = MaterialType.objects.create(name="PLA", density=Decimal("1.24"))
    petg = MaterialType.objects.create(name="PETG", density=Decimal("1.27"))
    spools = Spool.objects.bulk_create(
        Spool(material=pla if i % 2 else petg, colour_name="Black", initial_grams=1000, remaining_grams=800)
        for i in range(COUNT)
    )
    SpoolLoad.objects.bulk_create(
        SpoolLoad(spool=s, machine=m, tool=0) for s, m in zip(spools, machines, strict=True)
    )
    registry = get_registry()
    idle = int(STATUS_FOR_PRINTER_STATUS[PrinterStatus.IDLE])
    for machine in registry.machines():

        def mutate(raw: dict) -> None:
            raw["status"] = idle
            raw["initialized"] = True

        update_state(machine.id, mutate, default_status=500, seen=True)


def jobs(owner, *, colour: str) -> None:
    Job.objects.filter(state=JobState.QUEUED).delete()
    need = {"known": True, "tools": [{"tool": 0, "material": "PLA", "grams": 42.0}], "note": ""}
    Job.objects.bulk_create(
        Job(
            owner=owner,
            name=f"job-{i}",
            printer_file_name=f"job-{colour}-{i}.gcode",
            state=JobState.QUEUED,
            position=(i + 1) * 1024,
            material="PLA",
            colour=colour,
            metadata={"materials": ["PLA"], "filament_need": need},
        )
        for i in range(JOBS)
    )


def timed(label: str, fn) -> None:
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
    size = len(result) if hasattr(result, "__len__") else result
    print(f"{label}: {elapsed * 1000:.0f} ms, {len(captured)} queries, result {size}")


def main() -> None:
    setup()
    engine.send_now = lambda *args, **kwargs: None  # the dispatch tasks are not what is measured
    owners = [get_user_model().objects.create_user(f"student{i}") for i in range(3)]
    jobs(owners[0], colour="Magenta")
    timed(f"schedule_run, {COUNT} idle printers, {JOBS} jobs no spool fits", schedule_run)
    with override_settings(MATERIALS_TRACKING="off"):
        Job.objects.filter(state=JobState.DISPATCHING).update(state=JobState.QUEUED, machine=None)
        timed("  same with MATERIALS_TRACKING=off (dispatches)", schedule_run)
    jobs(owners[1], colour="")
    Job.objects.exclude(state=JobState.QUEUED).delete()
    timed(f"schedule_run, {JOBS} PLA jobs that fit (dispatched)", schedule_run)
    jobs(owners[2], colour="Magenta")
    waiting = list(Job.objects.filter(state=JobState.QUEUED)[:50])
    timed("queue_waiting_reasons for 50 queued jobs", lambda: queue_waiting_reasons(jobs=waiting))


if __name__ == "__main__":
    import os

    if os.environ.get("PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(main)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    else:
        main()
