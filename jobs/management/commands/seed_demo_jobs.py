"""``manage.py seed_demo_jobs``: demo students and example prints for the simulated fleet (``jobs.demo``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from jobs.demo import demo_password_path, seed_demo_jobs
from machines.models import MachineConfig


class Command(BaseCommand):
    help = (
        "Create the demo students and top the queue up with example prints (with thumbnails) for the "
        "simulated machines sim-001…; what `make run` does at start-up. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--machine", action="append", default=[], help="machine name (default: every sim-… machine)"
        )

    def handle(self, *args, **options):
        machines = MachineConfig.objects.filter(name__startswith="sim-")
        if options["machine"]:
            machines = MachineConfig.objects.filter(name__in=options["machine"])
            missing = sorted(set(options["machine"]) - set(machines.values_list("name", flat=True)))
            if missing:
                raise CommandError(f"no machine named {', '.join(missing)}")
        ids = list(machines.order_by("name").values_list("pk", flat=True))
        if not ids:
            raise CommandError("no simulated machines: start them with manage.py up --simulate 8 first")
        seed = seed_demo_jobs(machine_ids=ids)
        self.stdout.write(
            f"Demo students: {', '.join(seed.students)} (password in {demo_password_path()}); "
            f"{len(seed.submitted)} example job(s) queued, {seed.history} in the history."
        )
        for refusal in seed.refused:
            self.stderr.write(f"not accepted: {refusal}")
        if seed.refused and not seed.submitted:
            raise CommandError("no example job was accepted (see above)")
