"""The poller process: owns a share of the fleet through leases and polls it through the registry.

Ties ``mes.poller.FleetPoller`` (cadence, leases, backoff) to the machine registry: ownership arrives
as a registry ownership policy, so only the owning process calls a driver's init and teardown hooks,
and every poll runs under the machine's I/O lock so it never interleaves with a dispatch or a
pause/cancel that a worker is sending to the same printer.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from machines.locks import MachineBusy, machine_poll_batch, machine_poll_lock
from machines.registry import MachineRegistry, get_registry
from machines.state import read_states
from mes.instruments import POLL_DURATION, POLL_ERRORS
from mes.leases import LeaseStore
from mes.poller import FleetPoller, PollerConfig

logger = logging.getLogger(__name__)
DEFAULT_CADENCE = 2.0


class MachineRuntime:
    def __init__(self, *, owner: str, store: LeaseStore, config: PollerConfig | None = None) -> None:
        self.owner = owner
        self._owned: set[str] = set()
        self._owned_lock = threading.Lock()
        self.poller = FleetPoller(
            owner=owner,
            store=store,
            list_machines=self.list_machines,
            poll=self.poll,
            on_acquire=self.on_acquire,
            on_release=self.on_release,
            config=config,
            probe=self.probe,
            lane_scope=machine_poll_batch,
        )

    @property
    def registry(self) -> MachineRegistry:
        return get_registry()

    def owns(self, machine) -> bool:
        with self._owned_lock:
            return machine.id in self._owned

    def list_machines(self) -> dict[str, float]:
        """Active machines with a driver and their cadence; also restarts owned machines that ask for it."""
        registry = self.registry
        fleet = {}
        for machine in registry.machines():
            if machine.active and machine.driver is not None:
                cadence = (
                    machine.get_setting("POLL_INTERVAL") if "POLL_INTERVAL" in machine.definitions else None
                )
                fleet[machine.id] = float(cadence or DEFAULT_CADENCE)
        self._restart_requested(registry)
        return fleet

    def _restart_requested(self, registry: MachineRegistry) -> None:
        """A restart asked for in another process (API, admin) sets restart_required; the owner acts."""
        with self._owned_lock:
            owned = sorted(self._owned)
        for machine_id, state in read_states(owned).items():
            machine = registry.get_machine(machine_id)
            if state.restart_required and machine is not None:
                logger.info("restarting machine %s as requested", machine.name)
                registry.restart(machine)

    def on_acquire(self, machine_ids: list[str]) -> None:
        with self._owned_lock:
            self._owned.update(machine_ids)
        self.registry.set_ownership(self.owns)  # initializes the machines we now own

    def on_release(self, machine_ids: list[str]) -> None:
        with self._owned_lock:
            self._owned.difference_update(machine_ids)
        self.registry.set_ownership(self.owns)  # tears down the machines we no longer own

    def poll(self, machine_id: str) -> bool:
        """True when the machine answered (or was busy with a command); False backs it off."""
        machine = self.registry.get_machine(machine_id)
        if machine is None or not machine.running:
            return True  # removed, deactivated or misconfigured: nothing to talk to
        started = time.perf_counter()
        try:
            with machine_poll_lock(machine_id):
                result = self.registry.poll(machine)
        except MachineBusy:
            return True  # a worker is uploading or sending a command; poll again next cadence
        if settings.METRICS_ENABLED:
            driver = machine.driver.SLUG if machine.driver is not None else "none"
            POLL_DURATION.labels(driver).observe(time.perf_counter() - started)
            if result is None:
                POLL_ERRORS.labels(driver).inc()
        return result is not None

    def probe(self, machine_id: str) -> bool | None:
        """Is a machine in backoff reachable again? Its driver's cheap check (None: cannot tell)."""
        machine = self.registry.get_machine(machine_id)
        if machine is None or not machine.running or machine.driver is None:
            return None
        try:
            return machine.driver.probe_machine(machine)
        except Exception:
            logger.exception("probe_machine of %s failed", machine.name)
            return None

    def run(self) -> None:
        self.poller.run()

    def stop(self) -> None:
        self.poller.stop()
