"""Backends for the driver contract suite: the simulator's personalities and a real OctoPrint.

Fixtures:

* ``simulator`` (session): a ``ThreadedSimulator`` of 300 mixed printers at speed ``SIM_SPEED`` on a
  free port; ``sim_printer(personality)`` hands each test a fresh printer index of that personality.
* ``octoprint_server`` (session): a real OctoPrint 1.11 with its virtual printer
  (tests/servers/octoprint.py). Fails under CI=true when it cannot be installed or started, skips otherwise.
* ``backend``: parametrized over every backend; gives a client, a G-code maker whose print lasts a
  chosen number of real seconds, and the backend's own knobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from drivers import MoonrakerClient, OctoPrintClient, PrinterClient, PrusaLinkClient
from machines.machine_types.printer_state import ACTIVE_STATUSES, PrinterState, PrinterStatus
from machines.registry import reset_registry
from plugins.registry import reset_plugin_registry
from simulator import ThreadedSimulator
from tests.waiting import wait_until

SIM_SPEED = 20.0
SIM_COUNT = 300
PERSONALITY_ORDER = ("octoprint", "prusalink", "moonraker")
CLIENT_CLASSES: dict[str, type[PrinterClient]] = {
    "octoprint": OctoPrintClient,
    "prusalink": PrusaLinkClient,
    "moonraker": MoonrakerClient,
}


@dataclass
class GcodeFile:
    path: Path
    name: str
    sha256: str


@dataclass
class Backend:
    """One printer under test and how to drive it."""

    id: str
    personality: str
    client: PrinterClient
    make_client: Callable[..., PrinterClient]
    speed: float  # simulated seconds per real second (1 for a real server)
    tmp_path: Path
    sim: ThreadedSimulator | None = None
    index: int | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def gcode(self, name: str, seconds: float, *, tool: float = 0, bed: float = 0) -> GcodeFile:
        """A G-code of 1-second dwells that prints for about ``seconds`` real seconds here."""
        lines = ["; Lab MES contract test part", "G90"]
        if tool:
            lines.append(f"M104 S{tool:g}")
        if bed:
            lines.append(f"M140 S{bed:g}")
        step = self.speed  # one real second of dwell, in the printer's own (simulated) seconds
        lines += [f"G4 S{step:g}" for _ in range(max(1, round(seconds)))]
        lines.append("M104 S0\nM140 S0")
        path = self.tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return GcodeFile(path=path, name=name, sha256=hashlib.sha256(path.read_bytes()).hexdigest())

    def wait_for(
        self, predicate: Callable[[PrinterState], bool], timeout: float = 20.0, what: str = ""
    ) -> PrinterState:
        last: list[PrinterState] = []

        def reached() -> PrinterState | None:
            last[:] = [self.client.get_state()]
            return last[0] if predicate(last[0]) else None

        return wait_until(
            reached, timeout=timeout, interval=0.1, message=lambda: f"{what or predicate}; last state {last}"
        )

    def wait_not_active(self, timeout: float = 20.0) -> PrinterState:
        return self.wait_for(lambda s: s.status not in ACTIVE_STATUSES, timeout, "the job to end")

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        assert self.sim is not None, "only the simulator has a control API"
        response = requests.request(
            method, f"{self.sim.url}/_sim/printers/{self.index}{path}", timeout=10, **kwargs
        )
        return response

    def snapshot(self) -> dict:
        return self.control("GET", "").json()


@pytest.fixture(scope="session")
def simulator() -> Iterator[ThreadedSimulator]:
    sim = ThreadedSimulator(SIM_COUNT, "mixed", speed=SIM_SPEED).start()
    yield sim
    sim.stop()


_allocated: dict[str, Iterator[int]] = {}


@pytest.fixture
def sim_printer(simulator) -> Callable[[str], int]:
    """A fresh printer index of the given personality (each test gets its own printer)."""

    def allocate(personality: str) -> int:
        if personality not in _allocated:
            offset = PERSONALITY_ORDER.index(personality) + 1
            _allocated[personality] = itertools.count(offset, len(PERSONALITY_ORDER))
        index = next(_allocated[personality])
        if index > SIM_COUNT:
            pytest.fail(f"the test simulator ran out of {personality} printers; raise SIM_COUNT")
        return index

    return allocate


def sim_backend(personality: str, simulator, sim_printer, tmp_path) -> Backend:
    index = sim_printer(personality)
    cls = CLIENT_CLASSES[personality]
    url = simulator.printer_url(index)

    def make_client(**overrides) -> PrinterClient:
        settings = {"api_key": simulator.api_key(index), "connect_timeout": 2, "read_timeout": 5}
        settings.update(overrides)
        return cls(url, **settings)

    return Backend(
        id=f"sim-{personality}",
        personality=personality,
        client=make_client(),
        make_client=make_client,
        speed=SIM_SPEED,
        tmp_path=tmp_path,
        sim=simulator,
        index=index,
    )


def octoprint_backend(server, tmp_path) -> Backend:
    def make_client(**overrides) -> PrinterClient:
        settings = {"api_key": server.api_key, "connect_timeout": 2, "read_timeout": 10}
        settings.update(overrides)
        return OctoPrintClient(server.url, **settings)

    backend = Backend(
        id="octoprint-real",
        personality="octoprint",
        client=make_client(),
        make_client=make_client,
        speed=1.0,
        tmp_path=tmp_path,
    )
    _reset_real_octoprint(backend)
    return backend


def _reset_real_octoprint(backend: Backend) -> None:
    """Leave the shared real OctoPrint idle, connected and without files for the next test."""
    client = backend.client
    state = client.get_state()
    if state.status in (PrinterStatus.ERROR, PrinterStatus.DISCONNECTED):
        client.reconnect()
        backend.wait_for(lambda s: s.status is PrinterStatus.IDLE, 30, "OctoPrint to reconnect")
    elif state.status in ACTIVE_STATUSES:
        with contextlib.suppress(Exception):
            client.cancel()
        backend.wait_not_active(30)
    for remote in client.list_files():
        client.delete_file(remote.name)


BACKENDS = [
    pytest.param("sim-octoprint", id="sim-octoprint"),
    pytest.param("sim-prusalink", id="sim-prusalink"),
    pytest.param("sim-moonraker", id="sim-moonraker"),
    pytest.param("octoprint-real", id="octoprint-real", marks=pytest.mark.slow),
]


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Iterator[Backend]:
    if request.param == "octoprint-real":
        server = request.getfixturevalue("octoprint_server")
        made = octoprint_backend(server, tmp_path)
    else:
        personality = request.param.removeprefix("sim-")
        made = sim_backend(
            personality,
            request.getfixturevalue("simulator"),
            request.getfixturevalue("sim_printer"),
            tmp_path,
        )
    yield made
    if made.sim is None:
        _reset_real_octoprint(made)
    made.client.close()


@pytest.fixture
def registry(db):
    """Registries rebuilt from the real plugins (the built-in drivers, nothing injected)."""
    reset_plugin_registry()
    yield reset_registry().ensure_current()
    reset_registry()
    reset_plugin_registry()
