"""The machine registry: one object per process that knows every machine type, driver and machine.

Get it with ``get_registry()`` (never cache it in a module global: tests reset it). It reloads itself
when the shared registry generation changes (checked at most every ``check_interval`` seconds on
access), so a change saved in any process is used here within about a second.

Only machines this process *owns* get their hooks called (``init_machine``, ``teardown_machine``...).
The default owns every machine; the runtime sets an ownership policy with ``set_ownership``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import DatabaseError

from machines import signals
from machines.machine_types.base import BaseDriver, BaseMachineType
from machines.machine_types.label_printer import LabelPrinterMachineType
from machines.machine_types.printer_3d import Printer3DMachineType
from machines.models import MachineConfig, MachineSetting
from machines.plugin_checks import check_driver, check_machine_type, listed_classes, plugin_class_problems
from machines.setting_defs import SettingDefinition, build_definitions
from machines.state import read_states
from machines.status import MachineStatus
from mes import gcfreeze
from plugins.base import MachineDriverMixin
from plugins.discovery import PluginError
from plugins.generation import generation_current
from plugins.registry import PluginRegistry, get_plugin_registry
from plugins.signals import plugin_activation_checked, plugin_errors_requested, registry_changed

logger = logging.getLogger(__name__)

BUILTIN_MACHINE_TYPES: tuple[type[BaseMachineType], ...] = (Printer3DMachineType, LabelPrinterMachineType)
CORE = "core"  # the "plugin" name used for errors in built-in machine types


class UnavailableStatus(MachineStatus):
    UNKNOWN = 500, "Unknown", "secondary"


class UnavailableMachineType(BaseMachineType):
    """Stands in for a machine whose type is not available (unknown slug or plugin inactive)."""

    SLUG = "unavailable"
    NAME = "Unavailable machine type"
    DESCRIPTION = "The machine type of this machine is not available."
    base_driver = BaseDriver
    MACHINE_STATUS = UnavailableStatus
    default_machine_status = UnavailableStatus.UNKNOWN


class MachineRegistry:
    check_interval = 0.5  # seconds between generation checks on access

    def __init__(
        self, *, plugin_registry: Callable[[], PluginRegistry] = get_plugin_registry, owns_all: bool = True
    ) -> None:
        self._plugin_registry = plugin_registry
        self._lock = threading.RLock()
        self.machine_types: dict[str, type[BaseMachineType]] = {}
        self.type_plugins: dict[str, str] = {}
        self.drivers: dict[str, BaseDriver] = {}
        self.driver_plugins: dict[str, str] = {}
        self.inactive_drivers: dict[str, str] = {}  # driver slug -> slug of its inactive plugin
        self.errors: list[PluginError] = []
        self._machines: dict[str, BaseMachineType] = {}
        self._driver_instances: dict[type, BaseDriver] = {}
        self._initialized_drivers: set[type] = set()
        self.generation: int | None = None
        self.loaded = False
        self.load_error: str | None = None
        self._dirty = False
        self._last_check = 0.0
        # A standalone process (tests, shell, a one-process lab) owns every machine; under the
        # supervisor only pollers own machines, through leases (machines.runtime).
        self._ownership: Callable[[BaseMachineType], bool] = lambda machine: owns_all

    # -- freshness ---------------------------------------------------------------------------------
    def mark_dirty(self) -> None:
        """This process changed the registry inputs: reload on next access."""
        self._dirty = True

    def ensure_current(self, *, force_check: bool = False) -> MachineRegistry:
        """Reload when not loaded, dirty, or when the shared generation moved (checked cheaply)."""
        if not self.loaded or self._dirty:
            self.load()
            return self
        now = time.monotonic()
        if force_check or now - self._last_check >= self.check_interval:
            self._last_check = now
            if generation_current() != self.generation:
                self.load()
        return self

    # -- loading -----------------------------------------------------------------------------------
    def load(self) -> None:
        """(Re)build types, drivers and machines from plugins and the database, then call hooks."""
        with self._lock:
            self._dirty = False
            self._last_check = time.monotonic()
            try:
                generation = generation_current()
                plugin_registry = self._plugin_registry()
                plugin_registry.sync()
                configs = list(MachineConfig.objects.all())
                # Plain tuples, not model rows: the registry keeps them for the process's lifetime.
                stored: dict[Any, dict[tuple[str, str], str]] = defaultdict(dict)
                for machine_id, config_type, key, value in MachineSetting.objects.values_list(
                    "machine_id", "config_type", "key", "value"
                ):
                    stored[machine_id][(config_type, key)] = value
            except DatabaseError as exc:
                # e.g. before migrations ran; report it and try again on the next access
                self.load_error = f"database not ready: {exc}"
                logger.warning("Machine registry not loaded: %s", self.load_error)
                return
            self.load_error = None
            self._collect(plugin_registry)
            previous = self._machines
            shared: dict[tuple[str, str], dict[str, SettingDefinition]] = {}  # one per type and driver
            self._machines = {
                str(config.pk): self._build_safely(config, stored.get(config.pk, {}), shared)
                for config in configs
            }
            self.generation = generation
            self.loaded = True
            self._reconcile(previous)
            del previous
        signals.registry_reloaded.send(sender=type(self), registry=self, generation=generation)
        # In a process that froze its start-up objects (web workers, pollers): free the registry this
        # one replaced and freeze the new one (mes.gcfreeze).
        gcfreeze.refreeze()

    def _collect(self, plugin_registry: PluginRegistry) -> None:
        errors: list[PluginError] = []
        types: dict[str, type[BaseMachineType]] = {}
        type_plugins: dict[str, str] = {}
        candidates: list[tuple[str, Any]] = [(CORE, cls) for cls in BUILTIN_MACHINE_TYPES]
        driver_candidates: list[tuple[str, Any]] = []
        for found in plugin_registry.active_plugins():
            if not isinstance(found.plugin, MachineDriverMixin):
                continue
            try:
                type_classes = listed_classes(found, "get_machine_types")
                driver_classes = listed_classes(found, "get_machine_drivers")
            except Exception as exc:  # noqa: BLE001 - a broken plugin becomes an error, not a crash
                errors.append(
                    PluginError(plugin=found.slug, reason=f"listing machine types/drivers failed: {exc}")
                )
                continue
            candidates += [(found.slug, cls) for cls in type_classes]
            driver_candidates += [(found.slug, cls) for cls in driver_classes]
        for plugin, cls in candidates:
            problems = check_machine_type(cls)
            if not problems and cls.SLUG in types:
                problems = [f"machine type {cls.SLUG!r} is already provided by {type_plugins[cls.SLUG]}"]
            if problems:
                errors += [PluginError(plugin=plugin, reason=problem) for problem in problems]
                continue
            types[cls.SLUG] = cls
            type_plugins[cls.SLUG] = plugin

        drivers: dict[str, BaseDriver] = {}
        driver_plugins: dict[str, str] = {}
        for plugin, cls in driver_candidates:
            problems = check_driver(cls, types)
            if not problems and cls.SLUG in drivers:
                problems = [f"driver {cls.SLUG!r} is already provided by plugin {driver_plugins[cls.SLUG]}"]
            if problems:
                errors += [PluginError(plugin=plugin, reason=problem) for problem in problems]
                continue
            driver = self._driver_instances.get(cls)
            if driver is None:
                try:
                    driver = cls()
                except Exception as exc:  # noqa: BLE001 - reported as the plugin's error
                    errors.append(
                        PluginError(plugin=plugin, reason=f"driver {cls.SLUG} failed to start: {exc!r}")
                    )
                    continue
                self._driver_instances[cls] = driver
            driver.plugin = plugin_registry.plugins[plugin].plugin
            driver.registry = self
            drivers[cls.SLUG] = driver
            driver_plugins[cls.SLUG] = plugin

        inactive: dict[str, str] = {}
        for found in plugin_registry.inactive_plugins():
            if isinstance(found.plugin, MachineDriverMixin):
                # Checked too, so that what would stop it from being activated shows in every process.
                problems = plugin_class_problems(found, types)
                errors += problems
                if problems:
                    continue
                inactive.update(
                    {cls.SLUG: found.slug for cls in listed_classes(found, "get_machine_drivers")}
                )
        for error in errors:
            logger.error("Machine registry: %s", error)
        self.machine_types, self.type_plugins = types, type_plugins
        self.drivers, self.driver_plugins, self.inactive_drivers = drivers, driver_plugins, inactive
        self.errors = errors
        plugin_registry.set_provided_errors("machines", errors)

    def definitions_for(self, machine_type: str, driver: str) -> dict[str, SettingDefinition]:
        """Setting definitions of a type/driver pair (unknown parts contribute none)."""
        definitions: dict[str, SettingDefinition] = {}
        type_cls = self.machine_types.get(machine_type)
        if type_cls is not None:
            definitions.update(build_definitions(type_cls.MACHINE_SETTINGS, config_type="M"))
        driver_obj = self.drivers.get(driver)
        if driver_obj is not None and driver_obj.machine_type == machine_type:
            definitions.update(build_definitions(driver_obj.MACHINE_SETTINGS, config_type="D"))
        return definitions

    def choice_errors(self, machine_type: str, driver: str) -> dict[str, str]:
        """Per-field messages when the type or driver is not usable, listing the valid choices."""
        errors: dict[str, str] = {}
        if machine_type not in self.machine_types:
            errors["machine_type"] = (
                f"Unknown machine type {machine_type!r}; valid choices are {sorted(self.machine_types)}."
            )
            return errors
        valid = sorted(slug for slug, d in self.drivers.items() if d.machine_type == machine_type)
        if driver in self.inactive_drivers:
            errors["driver"] = (
                f"Driver {driver!r} belongs to plugin {self.inactive_drivers[driver]!r}, which is inactive; "
                f"valid choices for {machine_type} are {valid}."
            )
        elif driver not in self.drivers or self.drivers[driver].machine_type != machine_type:
            errors["driver"] = (
                f"Unknown driver {driver!r} for machine type {machine_type}; valid choices are {valid}."
            )
        return errors

    def _build_safely(
        self,
        config: MachineConfig,
        stored: dict[tuple[str, str], str],
        shared: dict[tuple[str, str], dict[str, SettingDefinition]],
    ) -> BaseMachineType:
        """``_build``, but a machine type whose constructor raises gives an unavailable machine with the
        reason, so one plugin's bug never takes the other machines (or the machine list) down."""
        try:
            return self._build(config, stored, shared)
        except Exception as exc:
            logger.exception("Machine %s could not be built", config.name)
            return UnavailableMachineType(
                config=config,
                driver=None,
                settings={},
                definitions={},
                config_errors=[f"machine type {config.machine_type} failed to build this machine: {exc!r}"],
                registry=self,
            )

    def _build(
        self,
        config: MachineConfig,
        stored: dict[tuple[str, str], str],
        shared: dict[tuple[str, str], dict[str, SettingDefinition]],
    ) -> BaseMachineType:
        """One machine from its config and stored settings; machines of one type and driver share
        their (read-only) setting definitions."""
        config_errors = list(self.choice_errors(config.machine_type, config.driver).values())
        type_cls = self.machine_types.get(config.machine_type, UnavailableMachineType)
        driver = None if config_errors else self.drivers[config.driver]
        pair = (config.machine_type, config.driver)
        if pair not in shared:
            shared[pair] = self.definitions_for(*pair)
        definitions = shared[pair]
        settings: dict[str, Any] = {key: d.default for key, d in definitions.items()}
        for key, definition in definitions.items():
            text = stored.get((definition.config_type, key))
            if text is None or definition.is_empty(text):
                continue
            try:
                settings[key] = definition.deserialize(text)
            except ValidationError as exc:
                config_errors.append(f"Setting {key} has an invalid stored value: {exc.messages[0]}")
        missing = [key for key, d in definitions.items() if d.required and d.is_empty(settings.get(key))]
        if missing:
            config_errors.append(f"Missing required settings: {', '.join(missing)}")
        return type_cls(
            config=config,
            driver=driver,
            settings=settings,
            definitions=definitions,
            config_errors=config_errors,
            registry=self,
        )

    # -- hooks -------------------------------------------------------------------------------------
    def owns(self, machine: BaseMachineType) -> bool:
        """Does this process talk to the machine? Only the owner calls its hooks."""
        return self._ownership(machine)

    def set_ownership(self, policy: Callable[[BaseMachineType], bool]) -> None:
        """Install an ownership policy (the runtime's leases) and start/stop machines accordingly."""
        with self._lock:
            self._ownership = policy
            if self.loaded:
                self._reconcile(self._machines)

    def _should_run(self, machine: BaseMachineType) -> bool:
        return (
            machine.active and machine.driver is not None and not machine.config_errors and self.owns(machine)
        )

    def _reconcile(self, previous: dict[str, BaseMachineType]) -> None:
        for machine_id, old in previous.items():
            new = self._machines.get(machine_id)
            same_driver = new is not None and type(new) is type(old) and new.driver is old.driver
            if old.running and not (same_driver and self._should_run(new)):
                self._teardown(old)
            elif old.running and same_driver and new is not old:
                new.running, new.driver_data = True, old.driver_data
                if old.snapshot() != new.snapshot():
                    self._call(new, "update_machine", old.snapshot(), new)
        idle_owned = []
        for machine in self._machines.values():
            if not machine.running and self._should_run(machine):
                self._initialize(machine)
            elif not machine.running and self.owns(machine):
                idle_owned.append(machine)
        # Machines we own but do not run (inactive, misconfigured) must not look initialized.
        states = read_states([m.id for m in idle_owned])
        for machine in idle_owned:
            if states[machine.id].initialized:
                machine.update_state(initialized=False)

    def _call(self, machine: BaseMachineType, hook: str, *args: Any) -> bool:
        """Call a driver hook; an exception becomes this machine's error and never escapes."""
        try:
            getattr(machine.driver, hook)(*args)
        except Exception as exc:
            logger.exception("%s of machine %s (driver %s) failed", hook, machine.name, machine.driver)
            machine.update_state(
                error=f"{hook} failed: {type(exc).__name__}: {exc}",
                status=machine.driver_error_status,
            )
            return False
        return True

    def _initialize(self, machine: BaseMachineType) -> bool:
        driver = machine.driver
        machine.clear_errors()
        if type(driver) not in self._initialized_drivers:
            users = [m for m in self._machines.values() if m.driver is driver and self._should_run(m)]
            try:
                driver.init_driver(users)
            except Exception as exc:
                logger.exception("init_driver of %s failed", driver)
                driver.handle_error(f"init_driver failed: {type(exc).__name__}: {exc}")
                machine.update_state(error=f"init_driver failed: {exc}", status=machine.driver_error_status)
                return False
            self._initialized_drivers.add(type(driver))
        if not self._call(machine, "init_machine", machine):
            machine.update_state(initialized=False)
            return False
        machine.running = True
        machine.update_state(initialized=True, restart_required=False)
        return True

    def _teardown(self, machine: BaseMachineType) -> None:
        machine.running = False
        self._call(machine, "teardown_machine", machine)
        if machine.config.pk and MachineConfig.objects.filter(pk=machine.config.pk).exists():
            machine.update_state(initialized=False)

    def restart(self, machine: BaseMachineType) -> bool:
        """Restart a machine this process owns (tear down and init when it was not running)."""
        with self._lock:
            if not self.owns(machine):
                return False
            if not machine.running:
                return self._should_run(machine) and self._initialize(machine)
            machine.clear_errors()
            if self._call(machine, "restart_machine", machine):
                machine.update_state(initialized=True, restart_required=False)
                return True
            machine.running = False
            machine.update_state(initialized=False)
            return False

    def ping(self, machine: BaseMachineType) -> bool:
        try:
            return bool(machine.driver.ping(machine)) if machine.driver else False
        except Exception as exc:  # noqa: BLE001 - a failed ping is an answer, recorded on the machine
            machine.handle_error(f"ping failed: {type(exc).__name__}: {exc}")
            return False

    def poll(self, machine: BaseMachineType) -> Any:
        """Refresh one owned, running machine's live state via its driver; errors stay on the machine."""
        if not machine.running:
            return None
        try:
            return machine.driver.poll_machine(machine)
        except Exception as exc:
            logger.exception("poll_machine of %s failed", machine.name)
            machine.update_state(
                error=f"poll_machine failed: {type(exc).__name__}: {exc}", status=machine.driver_error_status
            )
            return None

    def shutdown(self) -> None:
        """Tear down every machine this process runs (on process exit)."""
        with self._lock:
            for machine in self._machines.values():
                if machine.running:
                    self._teardown(machine)

    # -- reading -----------------------------------------------------------------------------------
    def machines(self) -> list[BaseMachineType]:
        return list(self._machines.values())

    def get_machine(self, machine_id: Any) -> BaseMachineType | None:
        return self._machines.get(str(machine_id))

    def machines_of_type(self, machine_type: str, *, active_only: bool = True) -> list[BaseMachineType]:
        return [
            m
            for m in self._machines.values()
            if m.config.machine_type == machine_type and (m.active or not active_only)
        ]

    def get_driver(self, slug: str) -> BaseDriver | None:
        return self.drivers.get(slug)

    def get_machine_type(self, slug: str) -> type[BaseMachineType] | None:
        return self.machine_types.get(slug)

    def status(self) -> dict:
        return {
            "loaded": self.loaded,
            "load_error": self.load_error,
            "generation": self.generation,
            "machines": len(self._machines),
            "running_here": sum(1 for m in self._machines.values() if m.running),
            "machine_types": sorted(self.machine_types),
            "drivers": sorted(self.drivers),
            "errors": [error.as_dict() for error in self.errors],
        }


def get_registry() -> MachineRegistry:
    """This process's machine registry, reloaded first if another process changed something."""
    return apps.get_app_config("machines").registry.ensure_current()


def reset_registry() -> MachineRegistry:
    """Replace the registry with a fresh one (tests). Tears the old one's machines down first."""
    config = apps.get_app_config("machines")
    old = getattr(config, "registry", None)
    if old is not None and old.loaded:
        old.shutdown()
    config.registry = MachineRegistry()
    return config.registry


def _on_registry_changed(sender: Any, **kwargs: Any) -> None:
    registry = getattr(apps.get_app_config("machines"), "registry", None)
    if registry is not None:
        registry.mark_dirty()


def _on_plugin_activation_checked(sender: Any, plugin: Any, **kwargs: Any) -> list[PluginError]:
    """The plugin framework asks before activating a plugin: what would we refuse in it?"""
    if not isinstance(plugin.plugin, MachineDriverMixin):
        return []
    return plugin_class_problems(plugin, get_registry().machine_types)


def _on_plugin_errors_requested(sender: Any, **kwargs: Any) -> None:
    # Reading the registry reloads it (re-checking every plugin's types and drivers) when anything
    # changed; ``_collect`` reports its findings to the plugin registry.
    get_registry()


def connect_signals() -> None:
    registry_changed.connect(_on_registry_changed, dispatch_uid="machines.registry.mark_dirty")
    plugin_errors_requested.connect(
        _on_plugin_errors_requested, dispatch_uid="machines.registry.report_plugin_errors"
    )
    plugin_activation_checked.connect(
        _on_plugin_activation_checked, dispatch_uid="machines.registry.check_plugin_activation"
    )
