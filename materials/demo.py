"""Example spools for the simulated fleet of ``make run`` (``mes.signals.demo_fleet_registered``)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from materials.models import MaterialType, Spool, SpoolLoad
from materials.services import spool_create, spool_load

MATERIALS = [
    # name, density g/cm³, low-stock threshold g
    ("PLA", "1.24", "500"),
    ("PETG", "1.27", "400"),
    ("ABS", "1.04", "300"),
    ("ASA", "1.07", "300"),
    ("TPU", "1.21", "250"),
]
# What each simulated printer gets on T0, in turn: (material, colour, hex, vendor, remaining g).
LOADED = [
    ("PLA", "Galaxy Black", "#1B1B1F", "Prusament", "820"),
    ("PLA", "Signal White", "#F2F2F2", "Prusament", "640"),
    ("PETG", "Orange", "#F26B1D", "Prusament", "930"),
    ("PLA", "Jet Black", "#0A0A0A", "Bambu Lab", "180"),
    ("PETG", "Ocean Blue", "#1E5AA8", "Polymaker", "45"),
    ("PLA", "Lime Green", "#8DC63F", "Polymaker", "710"),
    ("ASA", "Grey", "#8A8D8F", "Prusament", "500"),
    ("TPU", "Clear", "#E8EEF0", "NinjaTek", "150"),
]
SHELF = [
    ("PLA", "Galaxy Black", "#1B1B1F", "Prusament", "1000", "Shelf A1"),
    ("PETG", "Orange", "#F26B1D", "Prusament", "1000", "Shelf A2"),
    ("ABS", "Red", "#C8102E", "Fillamentum", "750", "Shelf B1"),
]


def seed_demo_materials(*, machine_ids: list) -> int:
    """Material types, a few shelf spools, and a spool on T0 of each machine that has none. Idempotent:
    labels ``DEMO-…`` mark what was seeded, and a machine with a spool loaded is left as it is."""
    with transaction.atomic():
        for name, density, threshold in MATERIALS:
            if not MaterialType.objects.filter(name__iexact=name).exists():
                MaterialType.objects.create(
                    name=name,
                    density=Decimal(density),
                    diameter=Decimal("1.75"),
                    low_stock_grams=Decimal(threshold),
                )
        for index, (material, colour, hex_, vendor, grams, location) in enumerate(SHELF, start=1):
            label = f"DEMO-SHELF-{index:02d}"
            if not Spool.objects.filter(label_id=label).exists():
                spool_create(
                    material=material,
                    initial_grams=Decimal("1000"),
                    remaining_grams=Decimal(grams),
                    colour_name=colour,
                    colour_hex=hex_,
                    vendor=vendor,
                    location=location,
                    label_id=label,
                    lot="DEMO",
                    cost_per_kg=Decimal("24.90"),
                )
        loaded = 0
        busy = set(
            SpoolLoad.objects.filter(unloaded_at__isnull=True, tool=0).values_list("machine_id", flat=True)
        )
        for index, machine_id in enumerate(machine_ids):
            if machine_id in busy:
                continue
            material, colour, hex_, vendor, grams = LOADED[index % len(LOADED)]
            label = f"DEMO-{index + 1:03d}"
            spool = Spool.objects.filter(label_id=label).first() or spool_create(
                material=material,
                initial_grams=Decimal("1000"),
                remaining_grams=Decimal(grams),
                colour_name=colour,
                colour_hex=hex_,
                vendor=vendor,
                label_id=label,
                lot="DEMO",
                cost_per_kg=Decimal("24.90"),
            )
            if spool.loads.filter(unloaded_at__isnull=True).exists():
                continue
            spool_load(spool=spool, machine=machine_id, tool=0)
            loaded += 1
    return loaded
