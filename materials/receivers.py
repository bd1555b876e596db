from __future__ import annotations

from materials.demo import seed_demo_materials


def on_demo_fleet_registered(sender, machine_ids, **kwargs) -> None:
    seed_demo_materials(machine_ids=machine_ids)
