from django.apps import AppConfig


class MesConfig(AppConfig):
    name = "mes"
    verbose_name = "Lab MES"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core import checks

        from mes.api import strict
        from mes.engine import Schedule

        strict.install()

        # Apps listed after "mes" in INSTALLED_APPS add their periodic tasks in their own ready().
        self.schedule = Schedule(intervals=settings.PERIODIC_INTERVALS)
        self.health_checks = {}  # name -> (callable returning mes.health.Check, critical); see register_check
        self.schedule.add(name="mes.clean-expired-leases", task="mes.tasks.lease_cleanup", seconds=3600)
        checks.register(check_periodic_intervals)


def check_periodic_intervals(app_configs=None, **kwargs) -> list:
    """Every management command (beat, workers, pollers) refuses to start on a misspelt name."""
    from django.apps import apps
    from django.core import checks

    schedule = apps.get_app_config("mes").schedule
    unknown = schedule.unknown_intervals()
    if not unknown:
        return []
    known = ", ".join(entry.name for entry in schedule.entries())
    return [
        checks.Error(
            f"PERIODIC_INTERVALS names no periodic task: {', '.join(unknown)}",
            hint=f"The periodic tasks are: {known}",
            id="mes.E010",
        )
    ]
