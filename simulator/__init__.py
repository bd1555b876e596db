"""A fleet of simulated printers speaking the OctoPrint, PrusaLink and Moonraker APIs (aiohttp)."""

from .server import CHOICES, Fleet, SimulatorHandle, ThreadedSimulator, api_key_for, start_simulator

__all__ = ["CHOICES", "Fleet", "SimulatorHandle", "ThreadedSimulator", "api_key_for", "start_simulator"]
