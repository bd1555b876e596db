from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Lab policies: trainings, opening hours, quotas"

    def ready(self) -> None:
        from mes.signals import demo_fleet_registered
        from policies import receivers

        demo_fleet_registered.connect(receivers.on_demo_fleet_registered, dispatch_uid="policies.demo")
