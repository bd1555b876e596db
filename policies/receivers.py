from __future__ import annotations

from policies.demo import seed_demo_policies


def on_demo_fleet_registered(sender, machine_ids, **kwargs) -> None:
    seed_demo_policies(machine_ids=machine_ids)
