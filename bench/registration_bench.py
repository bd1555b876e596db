"""Registering a fleet: N machines one by one (``machine_create``) against one batch
(``machines_create_many``, what the bulk API, ``import_machines`` and ``simulate_fleet --register`` use).
Prints timings and registry reloads, asserts nothing.

    .venv/bin/python bench/registration_bench.py                 # 1000 machines, embedded SQLite
    .venv/bin/python bench/registration_bench.py --count 2000 --single 300
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_reg .venv/bin/python bench/registration_bench.py

Target (issue 18): creating or importing 1000 machines takes seconds, not minutes (O(N)).
"""

from __future__ import annotations

import argparse
import os
import time

from standalone import setup_django

# As the web process that serves the API: it registers machines, the pollers own (initialize) them.
os.environ.setdefault("MES_PROCESS_ROLE", "web")
setup_django("registration-bench-")

from django.core.management import call_command  # noqa: E402

from machines.models import MachineConfig  # noqa: E402
from machines.registry import get_registry  # noqa: E402
from machines.services import machine_create, machines_create_many  # noqa: E402
from machines.signals import registry_reloaded  # noqa: E402


def row(prefix: str, n: int) -> dict:
    return {
        "name": f"{prefix}-{n:05d}",
        "machine_type": "printer-3d",
        "driver": "octoprint",
        "settings": {"URL": f"http://10.1.{n // 250}.{n % 250}", "API_KEY": f"key-{n}"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="machines in the batch (default 1000)")
    parser.add_argument(
        "--single", type=int, default=200, help="machines created one by one (default 200: O(N²) is slow)"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    reloads = []
    registry_reloaded.connect(lambda **kw: reloads.append(1), weak=False)
    get_registry()

    reloads.clear()
    started = time.perf_counter()
    for n in range(args.single):
        machine_create(**row("single", n))
    get_registry()
    single = time.perf_counter() - started
    print(
        f"one by one: {args.single} machines in {single:.2f} s "
        f"({single / args.single * 1000:.1f} ms each), {len(reloads)} registry reloads"
    )

    reloads.clear()
    started = time.perf_counter()
    machines_create_many(machines=[row("bulk", n) for n in range(args.count)])
    get_registry()
    bulk = time.perf_counter() - started
    print(
        f"in one batch: {args.count} machines in {bulk:.2f} s "
        f"({bulk / args.count * 1000:.2f} ms each), {len(reloads)} registry reload(s); "
        f"{MachineConfig.objects.count()} machines in the registry's database"
    )


if __name__ == "__main__":
    main()
