"""Example policies for the simulated fleet of ``make run`` (``mes.signals.demo_fleet_registered``):
weekday opening hours, the first half of the fleet allowed to run unattended, and an "FDM basics"
training required on every 3D printer that the lab's staff hold (so staff print, and a new student
account is refused with the training's name and who gives it). Idempotent."""

from __future__ import annotations

from datetime import time

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from machines.models import MachineConfig
from policies.models import MachinePolicy, OpeningHours, Training, TrainingRecord, TrainingRequirement

DEMO_TRAINING = "FDM basics"
DEMO_GIVEN_BY = "Lab staff, at the lab desk (Mon-Fri 09:00-17:00)"
HOURS = [(day, time(8, 0), time(18, 0)) for day in range(5)]


@transaction.atomic
def seed_demo_policies(*, machine_ids: list) -> None:
    if not OpeningHours.objects.exists():
        OpeningHours.objects.bulk_create([OpeningHours(weekday=d, opens=o, closes=c) for d, o, c in HOURS])
    machines = list(MachineConfig.objects.filter(pk__in=machine_ids).order_by("name"))
    for index, machine in enumerate(machines):
        MachinePolicy.objects.get_or_create(
            machine=machine, defaults={"unattended_allowed": index < (len(machines) + 1) // 2}
        )
    training, created = Training.objects.get_or_create(
        name=DEMO_TRAINING,
        defaults={
            "description": "Loading filament, first layer, clearing the bed, what to do when a print fails.",
            "given_by": DEMO_GIVEN_BY,
        },
    )
    if created:
        TrainingRequirement.objects.create(training=training, machine_type="printer-3d")
    today = timezone.localdate()
    for user in get_user_model().objects.filter(is_staff=True):
        if not TrainingRecord.objects.filter(user=user, training=training).exists():
            TrainingRecord.objects.create(
                user=user, training=training, completed_on=today, trainer_name="seeded by make run"
            )
