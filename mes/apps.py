from django.apps import AppConfig


class MesConfig(AppConfig):
    name = "mes"
    verbose_name = "Lab MES"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mes.api import strict
        from mes.engine import Schedule

        strict.install()

        # Apps listed after "mes" in INSTALLED_APPS add their periodic tasks in their own ready().
        self.schedule = Schedule()
        self.health_checks = {}  # name -> (callable returning mes.health.Check, critical); see register_check
        self.schedule.add(name="mes.clean-expired-leases", task="mes.tasks.lease_cleanup", seconds=3600)
