from __future__ import annotations

from maintenance.demo import seed_demo_maintenance


def on_demo_fleet_registered(sender, machine_ids, **kwargs) -> None:
    seed_demo_maintenance(machine_ids=machine_ids)
