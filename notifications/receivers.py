def on_demo_fleet_registered(sender, machine_ids, **kwargs) -> None:
    from notifications.demo import seed_demo_notifications

    seed_demo_notifications()
