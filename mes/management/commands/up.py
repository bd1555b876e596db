from __future__ import annotations

import os
import sys
import threading
import time

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from mes import config
from mes.console import UpState, status_block
from mes.supervisor import AlreadyRunning, ChildSpec, SingleInstanceLock, Supervisor


def child_specs(
    *,
    bind: str,
    web_workers: int,
    simulate: int = 0,
    sim_port: int = 8765,
    sim_speed: float = 1.0,
    demo_jobs: bool = True,
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
        # Celery logs through Django's LOGGING (mes.celery), which keeps periodic chatter at DEBUG.
        specs.append(ChildSpec("worker", [python, "-m", "celery", "-A", "mes", "worker"]))
        specs.append(ChildSpec("beat", [python, "-m", "celery", "-A", "mes", "beat"]))
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
                    "--port", str(sim_port), "--speed", str(sim_speed), "--register", "--demo", "--report-every", "60",
                    *(["--demo-jobs"] if demo_jobs else []),
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
        parser.add_argument(
            "--no-demo-jobs",
            action="store_true",
            help="with --simulate: start with an empty queue (no example prints from demo students)",
        )
        parser.add_argument(
            "--status", action="store_true", help="print the status block of the running Lab MES and exit"
        )
        parser.add_argument(
            "--production", action="store_true", help="refuse to start with DEBUG on (docs/security.md)"
        )

    def handle(self, *args, **options):
        if options["status"]:
            self._print_status()
            return
        bind = options["bind"]
        try:
            config.refuse_debug(debug=settings.DEBUG, binds=[bind], production=options["production"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        base_url = f"http://{bind.replace('0.0.0.0', '127.0.0.1')}"
        interactive = sys.stdin is not None and sys.stdin.isatty()
        hint = "Press Enter to show this again, Ctrl-C to stop." if interactive else "Press Ctrl-C to stop."

        def show_status() -> None:
            self.stdout.write(
                "\n"
                + self.style.SUCCESS(status_block(base_url=base_url, simulate=options["simulate"]))
                + hint
            )

        def announce() -> None:
            for _ in range(300):
                try:
                    requests.get(f"{base_url}/api/health/", timeout=1)
                except requests.RequestException:
                    time.sleep(0.2)
                    continue
                UpState(base_url=base_url, simulate=options["simulate"], pid=os.getpid()).save()
                show_status()
                if interactive:
                    threading.Thread(target=self._status_on_enter, args=(show_status,), daemon=True).start()
                return

        supervisor = Supervisor(
            child_specs(
                bind=bind,
                web_workers=options["web_workers"],
                simulate=options["simulate"],
                sim_port=options["sim_port"],
                sim_speed=options["sim_speed"],
                demo_jobs=not options["no_demo_jobs"],
            ),
            lock=SingleInstanceLock(settings.VAR_DIR / "up.lock"),
            stop_timeout=options["stop_timeout"],
            out=self.stdout,
            on_started=announce,
            on_locked=self._fresh_metrics,
        )
        try:
            supervisor.run()
        except AlreadyRunning as exc:
            raise CommandError(f"{exc}; its status: manage.py up --status") from exc

    @staticmethod
    def _fresh_metrics() -> None:
        """The previous run's per-process metric files belong to processes that are gone."""
        from django.apps import apps

        if apps.is_installed("metrics"):
            from metrics.multiprocess import reset_directory  # inside: optional app (only when installed)

            reset_directory()

    @staticmethod
    def _status_on_enter(show_status) -> None:
        """Print the status block again whenever Enter is pressed (stdin is a terminal)."""
        for _line in sys.stdin:
            show_status()

    def _print_status(self) -> None:
        state = UpState.load()
        if state is None:
            raise CommandError("Lab MES is not running here (start it with make run or manage.py up)")
        try:
            requests.get(f"{state.base_url}/api/health/", timeout=2)
        except requests.RequestException as exc:
            raise CommandError(f"Lab MES does not answer at {state.base_url} (pid {state.pid})") from exc
        self.stdout.write(status_block(base_url=state.base_url, simulate=state.simulate), ending="")
