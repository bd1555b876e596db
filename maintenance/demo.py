"""Example maintenance plans for ``make run``'s simulated fleet (``mes.signals.demo_fleet_registered``)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from machines.models import MachineConfig
from maintenance.models import MachineCounters, MaintenancePlan

PLANS = [
    ("Lubricate rods and lead screws", "Wipe the rods, then a thin film of PTFE grease.", 200, None),
    ("Belt tension check", "Check X/Y belt tension with the app; adjust if needed.", None, 180),
]


def seed_demo_maintenance(*, machine_ids: list) -> None:
    """Plans for every 3D printer; the second machine is near its lubrication so a "due" badge shows."""
    with transaction.atomic():
        for name, instructions, hours, days in PLANS:
            MaintenancePlan.objects.get_or_create(
                name=name,
                machine_type="printer-3d",
                defaults={"instructions": instructions, "every_print_hours": hours, "every_days": days},
            )
        machines = list(MachineConfig.objects.filter(pk__in=machine_ids).order_by("name"))
        if len(machines) >= 2:
            MachineCounters.objects.get_or_create(
                machine=machines[1],
                defaults={
                    "commissioned_at": timezone.now() - timedelta(days=120),
                    "print_seconds": 186 * 3600,
                    "service_print_seconds": 186 * 3600,
                    "jobs": 143,
                    "service_jobs": 143,
                    "failed_jobs": 6,
                    "service_failed_jobs": 6,
                    "filament_grams": 9120,
                    "service_filament_grams": 9120,
                },
            )
