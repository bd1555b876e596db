"""The built-in printer drivers: pure-Python clients for the printer APIs Lab MES speaks (no Django
imports) and the ``printer-drivers`` plugin wrapping one client per machine (``plugin.py``).

Listed in ``settings.MES_BUILTIN_PLUGINS``, so plugin discovery finds ``MES_PLUGINS`` here like any
third-party plugin's entry point; see docs/drivers.md for settings, limits and state maps.
``MES_PLUGINS`` is resolved lazily so that importing the clients needs no Django.
"""

from .base import PrinterClient
from .moonraker import MoonrakerClient
from .octoprint import OctoPrintClient
from .prusalink import PrusaLinkClient

CLIENTS: dict[str, type[PrinterClient]] = {
    OctoPrintClient.kind: OctoPrintClient,
    PrusaLinkClient.kind: PrusaLinkClient,
    MoonrakerClient.kind: MoonrakerClient,
}


def client_for(kind: str, base_url: str, **settings) -> PrinterClient:
    """A client for a printer API by name ("octoprint", "prusalink", "moonraker")."""
    try:
        cls = CLIENTS[kind]
    except KeyError:
        raise ValueError(f"unknown printer API {kind!r}; known: {', '.join(sorted(CLIENTS))}") from None
    return cls(base_url, **settings)


def __getattr__(name: str):
    # Plugin discovery reads MES_PLUGINS once Django is ready; the drivers import the machines app.
    if name == "MES_PLUGINS":
        from .plugin import PrinterDriversPlugin  # inside: app registry not ready at import time

        return [PrinterDriversPlugin]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CLIENTS", "MoonrakerClient", "OctoPrintClient", "PrinterClient", "PrusaLinkClient", "client_for"]
