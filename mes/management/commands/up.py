from __future__ import annotations

import sys
import time

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mes.supervisor import AlreadyRunning, ChildSpec, SingleInstanceLock, Supervisor


def child_specs(
    *, bind: str, web_workers: int, simulate: int = 0, sim_port: int = 8765, sim_speed: float = 1.0
) -> list[ChildSpec]:
    """The processes of one Lab MES installation, for the configured task engine and options."""
    python = sys.executable
    specs = [
        ChildSpec(
            "web",
            [
                python, "-m", "gunicorn", "mes.wsgi:application",
                "--bind", bind, "--workers", str(web_workers), "--threads", "4",
                "--graceful-timeout", "20", "--access-logfile", "-",
            ],
        )
    ]  # fmt: skip
    if settings.TASK_ENGINE == "celery":
        specs.append(
            ChildSpec("worker", [python, "-m", "celery", "-A", "mes", "worker", "--loglevel", "INFO"])
        )
        specs.append(ChildSpec("beat", [python, "-m", "celery", "-A", "mes", "beat", "--loglevel", "INFO"]))
    else:
        specs.append(ChildSpec("worker", [python, "manage.py", "qcluster"]))
        specs.append(ChildSpec("beat", [python, "manage.py", "mes_beat"]))
    specs.append(ChildSpec("poller", [python, "manage.py", "poll_machines"]))
    if settings.OPCUA_SERVER_URL or settings.OPCUA_SERVE:
        specs.append(ChildSpec("opcua", [python, "manage.py", "opcua_bridge"]))
    if simulate:
        specs.append(
            ChildSpec(
                "simulator",
                [
                    python, "manage.py", "simulate_fleet", "--count", str(simulate), "--personality", "mixed",
                    "--port", str(sim_port), "--speed", str(sim_speed), "--register", "--report-every", "60",
                ],
            )
        )  # fmt: skip
    for spec in specs:
        spec.env.setdefault("MES_PROCESS_ROLE", spec.name)
    return specs


class Command(BaseCommand):
    help = "Start Lab MES (web server and task workers) and keep it running; Ctrl-C stops it cleanly."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--stop-timeout", type=float, default=30.0, help="seconds for in-flight work")
        parser.add_argument(
            "--simulate", type=int, default=0, metavar="N", help="also run N simulated printers"
        )
        parser.add_argument("--sim-port", type=int, default=8765)
        parser.add_argument("--sim-speed", type=float, default=1.0, help="simulated seconds per real second")

    def handle(self, *args, **options):
        bind = options["bind"]
        base_url = f"http://{bind.replace('0.0.0.0', '127.0.0.1')}"

        def announce() -> None:
            for _ in range(300):
                try:
                    requests.get(f"{base_url}/api/health/", timeout=1)
                except requests.RequestException:
                    time.sleep(0.2)
                    continue
                self.stdout.write(
                    self.style.SUCCESS("\nLab MES is running. Open:\n")
                    + f"    Admin      {base_url}/admin/\n"
                    + f"    API docs   {base_url}/api/docs/\n"
                    + f"    Health     {base_url}/api/health/\n"
                    + (
                        f"    Fleet      {base_url}/fleet/  ({options['simulate']} simulated printers)\n"
                        if options["simulate"]
                        else ""
                    )
                    + "Press Ctrl-C to stop.\n"
                )
                return

        supervisor = Supervisor(
            child_specs(
                bind=bind,
                web_workers=options["web_workers"],
                simulate=options["simulate"],
                sim_port=options["sim_port"],
                sim_speed=options["sim_speed"],
            ),
            lock=SingleInstanceLock(settings.VAR_DIR / "up.lock"),
            stop_timeout=options["stop_timeout"],
            out=self.stdout,
            on_started=announce,
        )
        try:
            supervisor.run()
        except AlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
