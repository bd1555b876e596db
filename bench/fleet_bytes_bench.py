"""Bytes the fleet board's live refresh sends per update, before and after htmx's out-of-band swaps.

    .venv/bin/python bench/fleet_bytes_bench.py                 # 1000 machines, 1 % change per update
    .venv/bin/python bench/fleet_bytes_bench.py --count 300 --changing 5 --updates 30

1000 machines (built-in ``octoprint`` driver, whose ``init_machine`` never touches the network) get a
live state the way a poll writes it (``machines.state.update_state``): temperatures, and for busy ones a
job with progress. Then, ``--updates`` times, the fleet is polled once (every machine answers, so its
"last seen" moves) and ``--changing`` machines (1 % of the fleet by default) report a new progress and
temperatures, and a logged-in staff client asks for the board's live fragment:

- **before**: what the hand-written polling fetched every 2 s, the whole ``/fleet/live/`` fragment;
- **after**: the htmx request with the version the client shows (``X-Live-Version``): only the changed
  cards (out-of-band swaps), or ``204`` when nothing changed (``--changing 0``).

The same for the table view (``?view=table``, 100 rows a page). Prints the body bytes per update
(median), with gzip (level 6) for comparison (Lab MES does not compress its pages itself; a reverse
proxy may), the response headers, and the server time per update; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import time

from standalone import setup_django

setup_django("fleet-bytes-bench-")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

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

STATUSES = (PrinterStatus.PRINTING, PrinterStatus.IDLE, PrinterStatus.PAUSED, PrinterStatus.HEATING)
HX = {"HTTP_HX_REQUEST": "true"}


def printer_state(index: int, tick: int = 0) -> PrinterState:
    status = STATUSES[index % len(STATUSES)]
    temperatures = {
        "tool0": Temperature(actual=214.6 + index % 3 + tick * 0.3, target=215.0),
        "bed": Temperature(actual=59.8 - tick * 0.1, target=60.0),
    }
    if index % 5 == 0:
        temperatures["tool1"] = Temperature(actual=24.1, target=0.0)
    job = None
    if status is not PrinterStatus.IDLE:
        progress = ((index * 7) % 90 + 0.5 + tick) % 100
        job = PrinterJobInfo(
            file_name=f"part-{index}.gcode",
            progress=progress,
            time_used=60.0 * index,
            time_left=3600.0 - tick * 30,
        )
    return PrinterState(status=status, temperatures=temperatures, job=job, raw_state=status.value.title())


def write(machine_id, state: PrinterState) -> None:
    properties = [p.as_dict() for p in printer_properties(state)]

    def mutate(raw: dict) -> None:
        raw["status"] = int(STATUS_FOR_PRINTER_STATUS[state.status])
        raw["status_text"] = state.raw_state
        raw["properties"] = properties
        raw["data"] = {**(raw.get("data") or {}), "printer_state": state.as_dict()}

    update_state(machine_id, mutate, default_status=500, seen=True)


def setup(count: int) -> list:
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
    registry = get_registry()
    ids = [m.id for m in sorted(registry.machines(), key=lambda m: str(m.id))]
    for index, machine_id in enumerate(ids):
        write(machine_id, printer_state(index))
    return ids


def headers_size(response) -> int:
    return len(response.serialize_headers()) + len(f"HTTP/1.1 {response.status_code} OK\r\n\r\n")


def run(client: Client, ids: list, *, url: str, updates: int, changing: int, rng: random.Random) -> dict:
    before_body, before_gzip, before_ms = [], [], []
    after_body, after_gzip, after_ms, after_headers, after_status = [], [], [], [], []
    ticks = dict.fromkeys(range(len(ids)), 0)
    version = client.get(url, **HX)["X-Live-Version"]
    for _ in range(updates):
        changed = set(rng.sample(range(len(ids)), changing))
        for index, machine_id in enumerate(ids):  # one poll of the fleet: every machine answers
            if index in changed:
                ticks[index] += 1
                write(machine_id, printer_state(index, ticks[index]))
            else:
                update_state(machine_id, lambda raw: None, default_status=500, seen=True)
        started = time.perf_counter()
        full = client.get(url)
        before_ms.append((time.perf_counter() - started) * 1000)
        before_body.append(len(full.content))
        before_gzip.append(len(gzip.compress(full.content, 6)))
        started = time.perf_counter()
        live = client.get(url, HTTP_X_LIVE_VERSION=version, **HX)
        after_ms.append((time.perf_counter() - started) * 1000)
        after_body.append(len(live.content))
        after_gzip.append(len(gzip.compress(live.content, 6)) if live.content else 0)
        after_headers.append(headers_size(live))
        after_status.append(live.status_code)
        version = live["X-Live-Version"]
    return {
        "before": (
            statistics.median(before_body),
            statistics.median(before_gzip),
            statistics.median(before_ms),
        ),
        "after": (statistics.median(after_body), statistics.median(after_gzip), statistics.median(after_ms)),
        "headers": statistics.median(after_headers),
        "statuses": sorted(set(after_status)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="machines (default 1000)")
    parser.add_argument("--changing", type=int, help="machines that change per update (default 1 %%)")
    parser.add_argument("--updates", type=int, default=20, help="updates measured (default 20)")
    args = parser.parse_args()
    changing = args.changing if args.changing is not None else max(1, args.count // 100)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    ids = setup(args.count)
    print(f"{args.count} machines with live state in {time.perf_counter() - started:.1f} s")
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    rng = random.Random(16)
    print(f"{changing} machine(s) change per update, {args.updates} updates, medians:")
    print(f"  {'view':<22}{'':>9}{'body bytes':>12}{'gzip bytes':>12}{'server ms':>11}")
    scenarios = (
        ("cards /fleet/live/", "/fleet/live/", changing),
        ("table, first page", "/fleet/live/?view=table", changing),
        ("cards, nothing changed", "/fleet/live/", 0),
    )
    for label, url, how_many in scenarios:
        result = run(client, ids, url=url, updates=args.updates, changing=how_many, rng=rng)
        body, zipped, ms = result["before"]
        print(f"  {label:<22}{'before':>9}{body:>12,.0f}{zipped:>12,.0f}{ms:>11.0f}")
        body, zipped, ms = result["after"]
        print(f"  {'':<22}{'after':>9}{body:>12,.0f}{zipped:>12,.0f}{ms:>11.0f}")
        print(
            f"  {'':<22}{'':>9}  (after: answers {result['statuses']}, headers ~{result['headers']:.0f} bytes)"
        )


if __name__ == "__main__":
    main()
