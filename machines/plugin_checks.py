"""Checks of the classes a plugin provides (machine types and drivers), before anything is registered.

Every check turns any problem, including an exception raised by the plugin's own code, into a message
naming the plugin's class and attribute, so one broken plugin stays inactive with a clear error and
never breaks the machines of its neighbours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from machines.machine_types.base import BaseDriver, BaseMachineType
from machines.setting_defs import SettingDefinition, build_definitions
from machines.status import MachineStatus
from plugins.discovery import PluginError

logger = logging.getLogger(__name__)


class _Problem(Exception):
    """One thing wrong with a plugin's class; the message names the attribute."""


_MISSING = object()


def _attr(cls: Any, name: str, default: Any = _MISSING) -> Any:
    """Read a class attribute; anything but a plain absence (a raising property...) is a problem."""
    try:
        return getattr(cls, name)
    except AttributeError:
        if default is _MISSING:
            raise _Problem(f"{name} is missing") from None
        return default
    except Exception as exc:  # noqa: BLE001 - a plugin's descriptor may raise anything
        raise _Problem(f"reading {name} failed: {exc!r}") from None


def _text(cls: type, name: str) -> str:
    value = _attr(cls, name)
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"{name} must be a non-empty string, not {value!r}")
    return value


def _label(cls: Any, kind: str) -> str:
    """How errors name a class: its SLUG when that is readable text, else its class name."""
    try:
        slug = getattr(cls, "SLUG", None)
    except Exception:  # noqa: BLE001 - the SLUG itself may be the broken attribute
        slug = None
    name = slug if isinstance(slug, str) and slug.strip() else getattr(cls, "__name__", repr(cls))
    return f"{kind} {name}"


def _required_names(cls: type) -> list[str]:
    names = _attr(cls, "required_attributes")
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise _Problem(f"required_attributes must be a list of attribute names, not {names!r}")
    return list(names)


def missing_attributes(cls: type, names: Iterable[str]) -> list[str]:
    missing = []
    for name in names:
        value = _attr(cls, name, None)
        if value is None or (isinstance(value, str) and value == ""):
            missing.append(name)
    return missing


def required_override_groups(base: type) -> list[list[Callable]]:
    """``base.required_overrides`` as groups of methods (a list entry means "at least one of these").

    Entries must be the base driver's own functions, written without quotes in its class body
    (``required_overrides = [get_state, upload]``); anything else is a problem naming the entry.
    """
    entries = _attr(base, "required_overrides")
    if not isinstance(entries, list | tuple):
        raise _Problem(f"{base.__name__}.required_overrides must be a list of its methods, not {entries!r}")
    groups = []
    for entry in entries:
        group = list(entry) if isinstance(entry, list | tuple) else [entry]
        for func in group:
            name = getattr(func, "__name__", None) if callable(func) else None
            if not isinstance(name, str) or _attr(base, name, None) is not func:
                hint = f" (write the method itself: {func}, without quotes)" if isinstance(func, str) else ""
                raise _Problem(
                    f"{base.__name__}.required_overrides entries must be methods of {base.__name__}, "
                    f"not {func!r}{hint}"
                )
        groups.append(group)
    return groups


def missing_overrides(cls: type, groups: list[list[Callable]]) -> list[str]:
    """Names of required methods ``cls`` does not override (``a or b`` for at-least-one-of groups)."""
    return [
        " or ".join(func.__name__ for func in group)
        for group in groups
        if not any(_attr(cls, func.__name__, None) is not func for func in group)
    ]


def _settings_definitions(cls: type, config_type: str) -> dict[str, SettingDefinition]:
    settings = _attr(cls, "MACHINE_SETTINGS")
    if not isinstance(settings, dict):
        raise _Problem(f"MACHINE_SETTINGS must be a dict of setting definitions, not {settings!r}")
    try:
        return build_definitions(settings, config_type=config_type)
    except ValueError as exc:
        raise _Problem(str(exc)) from None


def _guarded_check(kind: str, cls: Any, check: Callable[[], list[str]]) -> list[str]:
    """Run a check; whatever it trips over becomes a problem naming the class, never an exception."""
    try:
        return check()
    except _Problem as exc:
        return [f"{_label(cls, kind)}: {exc}"]
    except Exception as exc:
        logger.exception("Checking %s failed", _label(cls, kind))
        return [f"{_label(cls, kind)}: checking it failed: {exc!r}"]


def check_machine_type(cls: Any) -> list[str]:
    """Why this machine type class cannot be registered (empty when it can)."""
    if not (isinstance(cls, type) and issubclass(cls, BaseMachineType)):
        return [f"{cls!r} is not a subclass of BaseMachineType"]
    return _guarded_check("machine type", cls, lambda: _machine_type_problems(cls))


def _machine_type_problems(cls: type[BaseMachineType]) -> list[str]:
    missing = missing_attributes(cls, _required_names(cls))
    if missing:
        return [f"machine type {cls.__name__} is missing required attribute(s): {', '.join(missing)}"]
    for name in ("SLUG", "NAME", "DESCRIPTION"):
        _text(cls, name)
    slug = cls.SLUG
    status = _attr(cls, "MACHINE_STATUS")
    if not (isinstance(status, type) and issubclass(status, MachineStatus)):
        return [f"machine type {slug}: MACHINE_STATUS must be a MachineStatus subclass, not {status!r}"]
    problems = [f"machine type {slug}: {p}" for p in status.problems()]
    if not isinstance(_attr(cls, "default_machine_status"), status):
        problems.append(f"machine type {slug}: default_machine_status is not one of its MACHINE_STATUS")
    error_status = _attr(cls, "driver_error_status", None)
    if error_status is not None and not isinstance(error_status, status):
        problems.append(f"machine type {slug}: driver_error_status must be None or one of its MACHINE_STATUS")
    elif error_status is not None and error_status.status_class != "driver_fault":
        problems.append(f"machine type {slug}: driver_error_status must be a 4xx code")
    idle = _attr(cls, "idle_statuses", frozenset())
    if not isinstance(idle, set | frozenset | list | tuple) or not all(isinstance(s, status) for s in idle):
        problems.append(
            f"machine type {slug}: idle_statuses must be a set of its MACHINE_STATUS members, not {idle!r}"
        )
    base = _attr(cls, "base_driver")
    if not (isinstance(base, type) and issubclass(base, BaseDriver)):
        problems.append(f"machine type {slug}: base_driver must be a BaseDriver subclass")
    else:
        try:
            required_override_groups(base)
        except _Problem as exc:
            problems.append(f"machine type {slug}: base_driver {exc}")
    try:
        _settings_definitions(cls, "M")
    except _Problem as exc:
        problems.append(f"machine type {slug}: {exc}")
    return problems


def check_driver(cls: Any, types: dict[str, type[BaseMachineType]]) -> list[str]:
    """Why this driver class cannot be registered (empty when it can)."""
    if not (isinstance(cls, type) and issubclass(cls, BaseDriver)):
        return [f"{cls!r} is not a subclass of BaseDriver"]
    return _guarded_check("driver", cls, lambda: _driver_problems(cls, types))


def _driver_problems(cls: type[BaseDriver], types: dict[str, type[BaseMachineType]]) -> list[str]:
    missing = missing_attributes(cls, _required_names(cls))
    if missing:
        return [f"driver {cls.__name__} is missing required attribute(s): {', '.join(missing)}"]
    for name in ("SLUG", "NAME", "DESCRIPTION", "machine_type"):
        _text(cls, name)
    machine_type = types.get(cls.machine_type)
    if machine_type is None:
        return [
            f"driver {cls.SLUG}: machine type {cls.machine_type!r} is not available; known: {sorted(types)}"
        ]
    problems = []
    if not issubclass(cls, machine_type.base_driver):
        problems.append(f"driver {cls.SLUG}: must extend {machine_type.base_driver.__name__}")
    missing = missing_overrides(cls, required_override_groups(machine_type.base_driver))
    if missing:
        problems.append(f"driver {cls.SLUG}: missing required override(s): {', '.join(missing)}")
    try:
        driver_defs = _settings_definitions(cls, "D")
    except _Problem as exc:
        problems.append(f"driver {cls.SLUG}: {exc}")
    else:
        clash = sorted(set(driver_defs) & set(machine_type.MACHINE_SETTINGS))
        if clash:
            problems.append(
                f"driver {cls.SLUG}: settings {clash} clash with machine type {machine_type.SLUG}"
            )
    return problems


def listed_classes(found: Any, method: str) -> list:
    """What a plugin's ``get_machine_types()``/``get_machine_drivers()`` returns, checked to be a list."""
    try:
        listed = getattr(found.plugin, method)()
    except Exception as exc:
        raise TypeError(f"{method}() failed: {exc!r}") from exc
    if not isinstance(listed, list | tuple):
        raise TypeError(f"{method}() must return a list of classes, not {listed!r}")
    return list(listed)


def plugin_class_problems(found: Any, types: dict[str, type[BaseMachineType]]) -> list[PluginError]:
    """Everything wrong with the machine types and drivers a plugin provides, checked against the
    machine types already available (``types``), without registering anything."""
    slug = found.slug
    try:
        type_classes = listed_classes(found, "get_machine_types")
        driver_classes = listed_classes(found, "get_machine_drivers")
    except Exception as exc:  # noqa: BLE001 - a broken plugin becomes an error, not a crash
        return [PluginError(plugin=slug, reason=f"listing machine types/drivers failed: {exc}")]
    problems: list[str] = []
    available = dict(types)
    for cls in type_classes:
        found_problems = check_machine_type(cls)
        if not found_problems and cls.SLUG in types:
            found_problems = [f"machine type {cls.SLUG!r} is already provided"]
        problems += found_problems
        if not found_problems:
            available[cls.SLUG] = cls
    seen: set[str] = set()
    for cls in driver_classes:
        found_problems = check_driver(cls, available)
        if not found_problems and cls.SLUG in seen:
            found_problems = [f"driver {cls.SLUG!r} is listed twice"]
        problems += found_problems
        if not found_problems:
            seen.add(cls.SLUG)
    return [PluginError(plugin=slug, reason=problem) for problem in problems]
