from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from machines.runtime import MachineRuntime
from mes import gcfreeze
from mes.leases import default_lease_store, new_owner_id
from mes.poller import PollerConfig


class Command(BaseCommand):
    help = (
        "Poll machines at their cadence. Run one per host (or several): they share the fleet through "
        "leases, and a poller that dies hands its machines to the others within one lease period."
    )

    def add_arguments(self, parser):
        parser.add_argument("--threads", type=int, default=32, help="concurrent polls in this process")
        parser.add_argument(
            "--lease-ttl", type=float, default=10.0, help="seconds a dead poller keeps machines"
        )
        parser.add_argument("--stats-every", type=float, default=60.0, help="seconds between progress lines")
        parser.add_argument(
            "--stats-file",
            default="",
            help="also write the counters as JSON to this file every second (for bench/run.py)",
        )

    def handle(self, *args, **options):
        if settings.MES_PROCESS_ROLE not in {"poller", "standalone"}:
            raise CommandError(f"poll_machines runs as role 'poller', not {settings.MES_PROCESS_ROLE!r}")
        runtime = MachineRuntime(
            owner=new_owner_id("poller"),
            store=default_lease_store(),
            config=PollerConfig(lease_ttl=options["lease_ttl"], threads=options["threads"]),
        )
        # Ownership comes only from leases, even when started without the supervisor.
        runtime.registry.set_ownership(runtime.owns)
        # Django, the apps and the registry stay for the process's life: out of the full collections,
        # which otherwise walk them every few hundred polls (mes.gcfreeze).
        gcfreeze.freeze_after_startup(load_urls=False)
        thread = threading.Thread(target=runtime.run, name="poller", daemon=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"poller {runtime.owner} started")
        thread.start()
        last = time.monotonic()
        stats_file = Path(options["stats_file"]) if options["stats_file"] else None
        while not stop.wait(1.0):
            if stats_file is not None:
                write_stats(stats_file, runtime)
            if time.monotonic() - last >= options["stats_every"]:
                last = time.monotonic()
                stats = runtime.poller.stats
                self.stdout.write(
                    f"owning {len(runtime.poller.owned())} machine(s); {stats.polls} polls, "
                    f"{stats.failures} failed, {stats.late} late; {stats.lanes} lane(s) in use"
                )
        self.stdout.write("stopping: finishing in-flight polls and handing machines back")
        runtime.stop()
        thread.join(30)
        runtime.registry.shutdown()
        if stats_file is not None:
            write_stats(stats_file, runtime)


def write_stats(path: Path, runtime: MachineRuntime) -> None:
    """Replace ``path`` atomically with the poller's counters, so a reader never sees half a file."""
    stats = runtime.poller.stats
    data = {
        "owner": runtime.owner,
        "pid": os.getpid(),
        "time": time.time(),
        "owned": len(runtime.poller.owned()),
        "polls": stats.polls,
        "failures": stats.failures,
        "late": stats.late,
        "lateness_total": stats.lateness_total,
        "lanes": stats.lanes,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
