from django.apps import AppConfig


class DriversConfig(AppConfig):
    """The built-in printer drivers (OctoPrint, PrusaLink, Moonraker): a plugin like any third-party one.

    It is found by plugin discovery through ``settings.MES_BUILTIN_PLUGINS``; being an app only gives it
    a place in the layering (above ``machines``) and in ``INSTALLED_APPS``.
    """

    name = "drivers"
    verbose_name = "Printer drivers"
