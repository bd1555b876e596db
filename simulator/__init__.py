"""A fleet of simulated printers speaking the OctoPrint, PrusaLink and Moonraker APIs (aiohttp).

The names below are loaded on first use: ``simulator`` is an installed Django app, so an eager import
would load aiohttp and the whole server into every Lab MES process, which never serves a simulated
printer (about 0.15 s of CPU at each process start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import CHOICES, Fleet, SimulatorHandle, ThreadedSimulator, api_key_for, start_simulator

__all__ = ["CHOICES", "Fleet", "SimulatorHandle", "ThreadedSimulator", "api_key_for", "start_simulator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".server", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
