from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from maintenance import receivers
        from mes.engine import schedule
        from mes.signals import demo_fleet_registered

        demo_fleet_registered.connect(receivers.on_demo_fleet_registered, dispatch_uid="maintenance.demo")

        # Time-based plans fall due without any print; the sweep puts machines whose plan says so into
        # maintenance (usage-based plans are also checked the moment a job's usage is recorded).
        schedule().add(name="maintenance.sweep", task="maintenance.tasks.maintenance_sweep", seconds=600)
