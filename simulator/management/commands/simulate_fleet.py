"""``manage.py simulate_fleet``: serve a fleet of simulated printers (and optionally register them).

With ``--register`` every simulated printer becomes a machine named ``sim-<nnn>`` (``sim-001``…) of type ``printer-3d``
whose driver is the one named after its personality (``octoprint``, ``prusalink``, ``moonraker``, from
the built-in ``printer-drivers`` plugin), with the driver settings ``URL`` and ``API_KEY`` pointing at
the simulator. A new machine also gets ``LOADED_MATERIALS`` and a build volume so that jobs can match
it. Running it again updates the driver, URL and key of existing ``sim-<nnn>`` machines (and leaves
what staff changed since, e.g. materials, alone); it never duplicates them. All machines are
registered in one transaction, and a missing driver stops the command with the registry's list of
valid drivers before anything is written or served.
"""

from __future__ import annotations

import asyncio

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from machines.models import MachineConfig
from machines.registry import get_registry
from machines.services import machine_update, machines_create_many
from mes.signals import demo_fleet_registered
from simulator.cli import add_arguments, check_arguments, serve
from simulator.server import CHOICES, api_key_for, personality_for

MACHINE_TYPE = "printer-3d"
# What every simulated printer takes: its sample part is PLA, and 220 x 220 x 250 mm is a common bed.
SIM_MATERIALS = ["PLA"]
SIM_BUILD_VOLUME = {"BUILD_VOLUME_X": 220, "BUILD_VOLUME_Y": 220, "BUILD_VOLUME_Z": 250}


def machine_name(index: int) -> str:
    return f"sim-{index:03d}"


def register_fleet(*, count: int, personality: str, base_url: str) -> tuple[int, int]:
    """Create or update ``sim-<nnn>`` machines pointing at the simulator; returns (created, updated)."""
    registry = get_registry()
    wanted = {personality_for(personality, n) for n in range(1, count + 1)}
    problems = [
        error for kind in sorted(wanted) for error in registry.choice_errors(MACHINE_TYPE, kind).values()
    ]
    if problems:
        raise CommandError("cannot --register: " + " ".join(dict.fromkeys(problems)))
    existing = {config.name: config for config in MachineConfig.objects.filter(name__startswith="sim-")}
    new_rows = []
    updated = 0
    with transaction.atomic():
        for n in range(1, count + 1):
            name = machine_name(n)
            driver = personality_for(personality, n)
            connection = {"URL": f"{base_url}/p/{n}", "API_KEY": api_key_for(n)}
            if name not in existing:
                settings = {**connection, **SIM_BUILD_VOLUME, "LOADED_MATERIALS": SIM_MATERIALS}
                new_rows.append(
                    {"name": name, "machine_type": MACHINE_TYPE, "driver": driver, "settings": settings}
                )
                continue
            try:
                machine_update(
                    machine=existing[name], machine_type=MACHINE_TYPE, driver=driver, settings=connection
                )
            except ValidationError as exc:
                raise CommandError(f"cannot register {name}: {'; '.join(exc.messages)}") from exc
            updated += 1
        try:
            # In one batch: creating a thousand machines one by one reloads the registry a thousand times.
            created = machines_create_many(machines=new_rows) if new_rows else []
        except ValidationError as exc:
            raise CommandError(f"cannot register the fleet: {'; '.join(exc.messages)}") from exc
    return len(created), updated


class Command(BaseCommand):
    help = "Serve N simulated 3D printers (OctoPrint, PrusaLink, Moonraker APIs) from one process."

    def add_arguments(self, parser):
        add_arguments(parser)
        parser.add_argument(
            "--register",
            action="store_true",
            help="create or update machines sim-001..sim-N pointing at the simulated printers",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="with --register: let apps seed example data for the fleet (spools, maintenance plans)",
        )
        parser.add_argument(
            "--demo-jobs",
            action="store_true",
            help="with --demo: also queue example prints from demo students (a busy board at start-up)",
        )

    def handle(self, *args, **options):
        problem = check_arguments(options["count"], options["speed"], options["port"])
        if problem:
            raise CommandError(problem)
        if options["personality"] not in CHOICES:
            raise CommandError(f"--personality must be one of {', '.join(CHOICES)}")
        if options["register"] and options["port"] == 0:
            raise CommandError("--register needs a fixed --port (machines store the URL)")
        if options["register"]:
            host = options["host"] if options["host"] not in ("0.0.0.0", "::") else "127.0.0.1"
            created, updated = register_fleet(
                count=options["count"],
                personality=options["personality"],
                base_url=f"http://{host}:{options['port']}",
            )
            self.stdout.write(
                self.style.SUCCESS(f"Registered simulated machines: {created} new, {updated} updated.")
            )
            if options["demo"]:
                names = [machine_name(n) for n in range(1, options["count"] + 1)]
                ids = list(
                    MachineConfig.objects.filter(name__in=names).order_by("name").values_list("pk", flat=True)
                )
                demo_fleet_registered.send(
                    sender=self.__class__, machine_ids=ids, example_jobs=options["demo_jobs"]
                )

        def out(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            asyncio.run(
                serve(
                    count=options["count"],
                    personality=options["personality"],
                    host=options["host"],
                    port=options["port"],
                    speed=options["speed"],
                    report_every=options["report_every"],
                    duration=options["duration"],
                    out=out,
                )
            )
        except OSError as exc:
            raise CommandError(f"cannot serve on {options['host']}:{options['port']}: {exc}") from exc
