"""The two classes plugin authors extend: ``BaseMachineType`` (what a machine is) and ``BaseDriver``
(how Lab MES talks to one). See docs/plugins.md for the contract.

A machine type instance exists per configured machine in each process; its live state is shared
through the cache (``machines.state``), so every method that changes state is safe across processes.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from events.services import event_record
from machines import signals
from machines.setting_defs import SettingDefinition
from machines.state import LiveState, read_state, update_state
from machines.status import MachineStatus, describe_status

if TYPE_CHECKING:
    from machines.models import MachineConfig
    from machines.registry import MachineRegistry
    from plugins.base import MesPlugin

logger = logging.getLogger(__name__)

PROPERTY_TYPES = ("str", "int", "float", "bool", "progress")


@dataclass(frozen=True)
class MachineProperty:
    """A typed value shown with the machine (temperatures, progress, firmware...)."""

    key: str
    value: Any
    group: str = ""
    type: str = "str"
    max: float | None = None  # for "progress": the value that means done (e.g. 100)
    unit: str = ""

    def __post_init__(self) -> None:
        if self.type not in PROPERTY_TYPES:
            raise ValueError(f"property {self.key}: type {self.type!r} is not one of {list(PROPERTY_TYPES)}")
        if self.type == "progress" and self.max is None:
            raise ValueError(f"property {self.key}: a progress property needs max")

    def as_dict(self) -> dict:
        """``dataclasses.asdict``, spelled out: it runs for every property of every poll."""
        value = self.value
        if not isinstance(value, str | int | float | bool | None):
            value = copy.deepcopy(value)
        return {
            "key": self.key,
            "value": value,
            "group": self.group,
            "type": self.type,
            "max": self.max,
            "unit": self.unit,
        }


class BaseDriver:
    """Talks to machines of one type. One instance per driver class per process.

    Hooks (all optional except the type's ``required_overrides``) receive the machine instance. An
    exception from any hook is recorded as that machine's error; other machines are not affected.
    """

    SLUG: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    machine_type: ClassVar[str] = ""  # slug of the machine type this driver drives
    MACHINE_SETTINGS: ClassVar[dict[str, dict]] = {}
    # Methods a concrete driver must override. An entry that is a list means "at least one of these".
    required_overrides: ClassVar[list] = []
    required_attributes: ClassVar[list[str]] = ["SLUG", "NAME", "DESCRIPTION", "machine_type"]

    def __init__(self) -> None:
        self.plugin: MesPlugin | None = None  # set by the registry
        self.registry: MachineRegistry | None = None  # set by the registry
        self.errors: list[str] = []

    def __repr__(self) -> str:
        return f"<driver {self.SLUG}>"

    # -- lifecycle hooks ---------------------------------------------------------------------------
    def init_driver(self, machines: list[BaseMachineType]) -> None:
        """Once per process, before the first ``init_machine`` (e.g. open a shared session)."""

    def init_machine(self, machine: BaseMachineType) -> None:
        """Connect to the machine; raise to report that it could not be initialized."""

    def update_machine(self, old_state: dict, machine: BaseMachineType) -> None:
        """The machine's configuration changed (``old_state``: name, active, settings before).

        The default restarts the machine when its settings changed, so new settings take effect.
        """
        if old_state.get("settings") != machine.settings:
            self.restart_machine(machine)

    def restart_machine(self, machine: BaseMachineType) -> None:
        """Default: tear down, then initialize again."""
        self.teardown_machine(machine)
        self.init_machine(machine)

    def ping(self, machine: BaseMachineType) -> bool:
        """Is the machine reachable? The default says yes; drivers that can check should."""
        return True

    def poll_machine(self, machine: BaseMachineType) -> Any:
        """Refresh the machine's live state (called by the pollers every poll interval)."""
        return None

    def probe_machine(self, machine: BaseMachineType) -> bool | None:
        """Is the machine reachable at all? A cheap check (no login, no state: e.g. a TCP connect with
        a short timeout) that the poller runs at the machine's cadence while a machine that failed
        backs off, so one that comes back is polled within a cadence. None (the default): this
        driver cannot tell, the machine waits for its backoff."""
        return None

    def teardown_machine(self, machine: BaseMachineType) -> None:
        """Release what init_machine set up (on deactivate, delete, driver change, shutdown)."""

    def get_snapshot_url(self, machine: BaseMachineType) -> str | None:
        """Optional: an absolute http(s) URL of a still picture from the machine's webcam, or None
        (the default) when the driver knows of none. Called by the web process when someone looks
        at the camera (the answer is cached for a minute), not by the poller; may ask the machine
        over the network and raise the driver's errors, or ValueError for a URL it will not use.
        Staff can always set one with the ``WEBCAM_SNAPSHOT_URL`` setting instead (machines.camera).
        """
        return None

    # -- helpers -----------------------------------------------------------------------------------
    def get_machines(self) -> list[BaseMachineType]:
        """Machines of this process's registry that use this driver."""
        if self.registry is None:
            return []
        return [m for m in self.registry.machines() if m.driver is self]

    def handle_error(self, error: str | Exception) -> None:
        """Record a driver-wide error (shown with the driver in the API and the admin)."""
        self.errors.append(str(error))


class BaseMachineType:
    """A kind of machine. Subclass, set the attributes below and give it a base driver."""

    SLUG: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    base_driver: ClassVar[type[BaseDriver]]
    MACHINE_STATUS: ClassVar[type[MachineStatus]]
    default_machine_status: ClassVar[MachineStatus]
    # Status set when a hook raises (must be a 4xx code); None keeps the current status.
    driver_error_status: ClassVar[MachineStatus | None] = None
    # Statuses in which the machine can take new work (machine_became_idle is sent on entering one).
    idle_statuses: ClassVar[frozenset] = frozenset()
    # Statuses that mean "not reachable" and "taken out for maintenance" for the event stream.
    offline_statuses: ClassVar[frozenset] = frozenset()
    maintenance_statuses: ClassVar[frozenset] = frozenset()
    MACHINE_SETTINGS: ClassVar[dict[str, dict]] = {}
    required_attributes: ClassVar[list[str]] = [
        "SLUG",
        "NAME",
        "DESCRIPTION",
        "base_driver",
        "MACHINE_STATUS",
        "default_machine_status",
    ]

    def __init__(
        self,
        *,
        config: MachineConfig,
        driver: BaseDriver | None,
        settings: dict[str, Any],
        definitions: dict[str, SettingDefinition],
        config_errors: list[str],
        registry: MachineRegistry | None = None,
    ) -> None:
        self.config = config
        self.driver = driver
        self.settings = settings  # typed values (defaults applied); secrets included, never log them
        self.definitions = definitions
        self.config_errors = config_errors  # derived from the configuration, same in every process
        self.registry = registry
        self.running = False  # this process initialized it and has not torn it down
        self.driver_data: dict[str, Any] = {}  # for the driver (clients, sessions); kept across reloads

    def __repr__(self) -> str:
        return f"<{self.SLUG} machine {self.name!r}>"

    # -- identity and configuration ----------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.config.pk)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def active(self) -> bool:
        return self.config.active

    def get_setting(self, key: str) -> Any:
        """The typed value of a machine-type or driver setting (its default when unset)."""
        if key not in self.definitions:
            raise KeyError(f"{self!r} has no setting {key!r}; known: {sorted(self.definitions)}")
        return self.settings.get(key)

    def snapshot(self) -> dict:
        """What ``update_machine`` receives as ``old_state``."""
        return {"name": self.name, "active": self.active, "settings": dict(self.settings)}

    # -- live state --------------------------------------------------------------------------------
    @property
    def state(self) -> LiveState:
        return read_state(self.id)

    @property
    def initialized(self) -> bool:
        return self.state.initialized

    def update_state(
        self,
        *,
        status: MachineStatus | int | Callable[[dict], MachineStatus | int] | None = None,
        status_text: str | None = None,
        properties: list[MachineProperty] | None = None,
        replace_properties: bool = False,
        error: str | None = None,
        data: dict | None = None,
        seen: bool = False,
        **flags: bool,
    ) -> LiveState:
        """Change several parts of the live state in one atomic write; send signals on changes.

        ``status`` may be a function of the stored state (called inside the atomic update), for a status
        that depends on a flag kept there. ``flags`` may set ``initialized`` and ``restart_required``.
        """
        unknown = set(flags) - {"initialized", "restart_required"}
        if unknown:
            raise TypeError(f"update_state() got unexpected flags {sorted(unknown)}")
        if status is not None and not callable(status):
            self._check_status(status)

        def mutate(raw: dict) -> None:
            if status is not None:
                value = status(raw) if callable(status) else status
                if callable(status):
                    self._check_status(value)
                raw["status"] = int(value)
            if status_text is not None:
                raw["status_text"] = status_text[:500]
            if properties is not None:
                current = {} if replace_properties else {p["key"]: p for p in raw.get("properties") or []}
                current.update({p.key: p.as_dict() for p in properties})
                raw["properties"] = list(current.values())
            if error is not None:
                errors = raw.setdefault("errors", [])
                if error not in errors:
                    errors.append(error)
            if data is not None:
                raw["data"] = {**(raw.get("data") or {}), **data}
            for name, value in flags.items():
                raw[name] = bool(value)

        old, new = update_state(
            self.id,
            mutate,
            default_status=int(self.default_machine_status),
            seen=seen,
            on_status_change=self._record_status_event,
        )
        self._send_signals(old, new)
        return new

    def status_category(self, code: int | None) -> str:
        """online, offline, error or maintenance: what the event stream says about a status code."""
        if code is None or code in {int(s) for s in self.offline_statuses} or code >= 500:
            return "offline"
        if code in {int(s) for s in self.maintenance_statuses}:
            return "maintenance"
        if code >= 300:
            return "error"
        return "online"

    def _record_status_event(self, old_status: int | None, new_status: int | None) -> None:
        """A machine.online/offline/error/maintenance event when the category changed (not on every
        heating → printing step), written in the transaction that stores the new status."""
        before, after = self.status_category(old_status), self.status_category(new_status)
        if before == after:
            return

        label = describe_status(self.MACHINE_STATUS, new_status)["label"]
        event_record(
            type=f"machine.{after}",
            payload={
                "name": self.name,
                "machine_type": self.SLUG,
                "status": new_status,
                "status_label": label,
                "previous_status": old_status,
                "previous": before,
                "errors": list(self.state.errors or [])[-3:] if after == "error" else [],
            },
            actor_kind="system",
            machine_id=self.id,
        )

    def _check_status(self, status: MachineStatus | int) -> None:
        if int(status) not in {int(s) for s in self.MACHINE_STATUS}:
            raise ValueError(f"{status!r} is not a status of machine type {self.SLUG}")

    def _send_signals(self, old: LiveState, new: LiveState) -> None:
        if old.status != new.status:
            signals.machine_status_changed.send(
                sender=type(self), machine=self, old_status=old.status, new_status=new.status
            )
            idle = {int(s) for s in self.idle_statuses}
            if new.status in idle and old.status not in idle:
                signals.machine_became_idle.send(sender=type(self), machine=self)
        signals.machine_state_changed.send(sender=type(self), machine=self, old=old, new=new)

    def set_status(self, status: MachineStatus) -> None:
        self.update_state(status=status)

    def set_status_text(self, text: str) -> None:
        self.update_state(status_text=text)

    def set_properties(self, properties: list[MachineProperty]) -> None:
        self.update_state(properties=properties)

    def handle_error(self, error: str | Exception) -> None:
        """Add an error to this machine (shared by all processes; duplicates are kept once)."""
        self.update_state(error=str(error))

    def clear_errors(self) -> None:
        update_state(
            self.id, lambda raw: raw.update(errors=[]), default_status=int(self.default_machine_status)
        )

    def set_restart_required(self, required: bool = True) -> None:
        self.update_state(restart_required=required)
