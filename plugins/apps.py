from django.apps import AppConfig


class PluginsConfig(AppConfig):
    name = "plugins"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from plugins import receivers  # noqa: F401 - connects the signal receivers
        from plugins.registry import PluginRegistry

        # Imports plugin code only; activation is read from the database on first use.
        self.plugin_registry = PluginRegistry()
