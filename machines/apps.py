from django.apps import AppConfig


class MachinesConfig(AppConfig):
    name = "machines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # No database access here: the registry loads on first use (get_registry()), so migrate and
        # makemigrations work before the tables exist.
        from django.conf import settings

        from machines import receivers  # noqa: F401 - connects the signal receivers
        from machines.registry import MachineRegistry, connect_signals

        self.registry = MachineRegistry(owns_all=settings.MES_PROCESS_ROLE == "standalone")
        connect_signals()
