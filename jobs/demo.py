"""``make run``'s busy board: example prints from demo students, sent to the simulated fleet.

``manage.py up --simulate N`` starts ``simulate_fleet --register --demo --demo-jobs``, whose
``mes.signals.demo_fleet_registered`` (``example_jobs=True``) lands here after the spools, trainings
and opening hours are seeded (``policies`` and ``materials`` come first in ``INSTALLED_APPS``). Then:

1. the simulator just (re)started, so whatever our jobs were doing on its printers is gone: active jobs
   on those machines fail with that reason and the beds are clear (a fresh simulator has empty plates);
2. three demo students (``ada``, ``grace``, ``alan``; one password, generated once into
   ``var/demo-password``) hold every training a machine requires;
3. once, a short history: two finished prints and one failed, so the machine and job pages and the
   dashboard have something to show;
4. the queue is topped up to a few more jobs than printers with the example prints in
   ``examples/demo-prints/`` (real G-code with slicer thumbnails), submitted through ``job_submit``
   like any upload. The scheduler sends them to the printers at the first poll.

Idempotent: a second ``make run`` tops the queue up again instead of piling jobs on. The simulated
printers run at speed 1 and the files' estimates are real minutes (7 to 31), so progress moves within
a minute of start-up and the prints end one by one. ``manage.py seed_demo_jobs`` runs steps 2 to 4.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from jobs.exceptions import JobValidationError
from jobs.models import Job
from jobs.services import JobSpec, job_submit, job_transition
from jobs.services.bed import machine_bed_flag_set
from jobs.states import ACTIVE_STATES, QUEUE_STATES, TERMINAL_STATES, ActorKind, JobState
from machines.models import MachineConfig
from policies.models import Training, TrainingRecord

logger = logging.getLogger(__name__)

PRINTS_DIR = settings.BASE_DIR / "examples" / "demo-prints"
# username, first name, last name
STUDENTS = (("ada", "Ada", "Lovelace"), ("grace", "Grace", "Hopper"), ("alan", "Alan", "Turing"))
# What the queue is topped up with, in this order (the simulated fleet's spools: PLA on most printers,
# PETG on two, ASA on one, TPU on the last, which stays free for a newcomer's own print).
QUEUE = (
    "calibration-cube",
    "phone-stand",
    "gear-set",
    "cable-clips",
    "vase",
    "spool-holder",
    "lens-cap",
    "desk-organiser",
    "bookmark",
    "hinge",
    "phone-stand",
)
EXTRA_JOBS = 3  # waiting beyond one job a printer: the queue shows estimated starts
# The history seeded once: (file, machine index, outcome, reason, minutes it ran).
HISTORY = (
    ("bookmark", 0, JobState.COMPLETED, "the printer finished it", 9),
    ("hinge", 1, JobState.COMPLETED, "the printer finished it", 11),
    (
        "desk-organiser",
        3,
        JobState.FAILED,
        "the printer reported an error: Thermal runaway: heater decoupled",
        14,
    ),
)
RESTARTED = "the simulated fleet restarted, and the print with it"


@dataclass
class DemoSeed:
    """What one seeding did (the command prints it)."""

    students: list[str] = field(default_factory=list)
    lost: int = 0  # active jobs failed because the simulator restarted
    history: int = 0
    submitted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def demo_password_path() -> Path:
    return settings.VAR_DIR / "demo-password"


def _demo_password() -> tuple[str, bool]:
    """The demo students' password and whether it is new (kept owner-only in ``var/demo-password``)."""
    path = demo_password_path()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("password: "):
                return line.removeprefix("password: ").strip(), False
    password = secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        usernames = ", ".join(username for username, _, _ in STUDENTS)
        os.write(fd, f"usernames: {usernames}\npassword: {password}\n".encode())
    finally:
        os.close(fd)
    return password, True


def demo_students_ensure() -> list:
    """The demo students, created when missing, each holding every training a machine requires."""
    password, new_password = _demo_password()
    users = []
    for username, first, last in STUDENTS:
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@localhost"},
        )
        if created or new_password:
            user.set_password(password)
            user.save(update_fields=["password"])
        users.append(user)
    today = timezone.localdate()
    for training in Training.objects.filter(requirements__isnull=False).distinct():
        for user in users:
            if not TrainingRecord.objects.filter(user=user, training=training).exists():
                TrainingRecord.objects.create(
                    user=user, training=training, completed_on=today, trainer_name="seeded by make run"
                )
    return users


def _spec(name: str) -> JobSpec:
    path = PRINTS_DIR / f"{name}.gcode"
    return JobSpec(
        file=SimpleUploadedFile(path.name, path.read_bytes()), name=name.replace("-", " ").capitalize()
    )


def demo_fleet_restarted(*, machine_ids: list) -> int:
    """The simulator was (re)started: fail our jobs that were on its printers and clear their beds."""
    lost = 0
    for job in Job.objects.filter(machine_id__in=machine_ids, state__in=ACTIVE_STATES):
        job_transition(
            job=job,
            to_state=JobState.FAILED,
            actor_kind=ActorKind.SYSTEM,
            reason=RESTARTED,
            expected_states=ACTIVE_STATES,
        )
        lost += 1
    for machine_id in machine_ids:
        machine_bed_flag_set(machine_id=machine_id, required=False)
    return lost


@transaction.atomic
def _history_job(*, user, name: str, machine: MachineConfig, outcome: str, reason: str, minutes: int) -> Job:
    """A print that ran before you came: submitted, then moved through dispatch and printing to its end in
    one transaction (the scheduler and the reconciler never see it waiting or running)."""
    job = job_submit(user=user, spec=_spec(name))
    kind, note = ActorKind.SYSTEM, "example history seeded by make run"
    job = job_transition(
        job=job, to_state=JobState.DISPATCHING, actor_kind=kind, reason=note, changes={"machine": machine}
    )
    started = timezone.now() - timedelta(minutes=minutes)
    job = job_transition(
        job=job, to_state=JobState.PRINTING, actor_kind=kind, reason=note, changes={"started_at": started}
    )
    progress = 100.0 if outcome == JobState.COMPLETED else 46.0
    return job_transition(
        job=job, to_state=outcome, actor_kind=kind, reason=reason, changes={"progress": progress}
    )


def seed_demo_jobs(*, machine_ids: list) -> DemoSeed:
    """Demo students, a short history (once) and a queue topped up to a few more jobs than printers."""
    seed = DemoSeed()
    users = demo_students_ensure()
    seed.students = [user.username for user in users]
    machines = list(MachineConfig.objects.filter(pk__in=machine_ids).order_by("name"))
    if not machines:
        return seed
    if not Job.objects.filter(owner__in=users, state__in=TERMINAL_STATES).exists():
        for index, (name, machine_index, outcome, reason, minutes) in enumerate(HISTORY):
            machine = machines[min(machine_index, len(machines) - 1)]
            _history_job(
                user=users[index % len(users)],
                name=name,
                machine=machine,
                outcome=outcome,
                reason=reason,
                minutes=minutes,
            )
            seed.history += 1
    waiting_or_running = Job.objects.filter(owner__in=users, state__in=QUEUE_STATES | ACTIVE_STATES).count()
    wanted = len(machines) + EXTRA_JOBS - waiting_or_running
    for index in range(max(0, wanted)):
        name = QUEUE[index % len(QUEUE)]
        try:
            job_submit(user=users[index % len(users)], spec=_spec(name))
        except JobValidationError as exc:
            reasons = "; ".join(exc.extra.get("reasons") or [exc.message])
            logger.warning("demo print %s was not accepted: %s", name, reasons)
            seed.refused.append(f"{name}: {reasons}")
            continue
        seed.submitted.append(name)
    return seed


def on_demo_fleet_registered(sender, machine_ids, example_jobs: bool = False, **kwargs) -> None:
    """``simulate_fleet --demo --demo-jobs``: the simulator starts now, with empty plates and a queue."""
    if not example_jobs:
        return
    lost = demo_fleet_restarted(machine_ids=machine_ids)
    seed = seed_demo_jobs(machine_ids=machine_ids)
    seed.lost = lost
    logger.info(
        "demo: %d example job(s) queued for %s, %d in the history, %d lost with the previous simulator",
        len(seed.submitted),
        ", ".join(seed.students),
        seed.history,
        seed.lost,
    )
