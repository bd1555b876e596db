from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    """Simulated printers for development, demos and tests (``manage.py simulate_fleet``).

    The simulator itself (``python -m simulator``) needs no Django; the app only provides the command
    that also registers the simulated printers as machines.
    """

    name = "simulator"
    verbose_name = "Printer simulator"
