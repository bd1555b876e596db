from notifications.demo import seed_demo_notifications


def on_demo_fleet_registered(sender, machine_ids, **kwargs) -> None:
    seed_demo_notifications()
