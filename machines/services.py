"""Writes for machines. Every function validates fully before writing and writes in one transaction,
so bad input leaves nothing half-written. Saving bumps the registry generation (see receivers)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from machines.models import MachineConfig, MachineSetting
from machines.registry import MachineRegistry, get_registry
from machines.signals import machines_created
from mes.exceptions import DomainError
from plugins.generation import generation_bump
from plugins.setting_defs import SettingDefinition, validate_settings
from plugins.setting_defs import SettingsInvalid as SettingsInvalid  # re-export: machines.api catches it


def _write_settings(
    machine: MachineConfig, validated: dict[str, tuple[SettingDefinition, str | None]]
) -> None:
    for key, (definition, text) in validated.items():
        if text is None:
            MachineSetting.objects.filter(
                machine=machine, config_type=definition.config_type, key=key
            ).delete()
        else:
            MachineSetting.objects.update_or_create(
                machine=machine, config_type=definition.config_type, key=key, defaults={"value": text}
            )


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "A machine needs a name."
    if len(name.strip()) > 100:
        return "Names are at most 100 characters."
    return None


def _check_name(name: Any, *, exclude_pk: Any = None) -> dict[str, str]:
    problem = _name_problem(name)
    if problem:
        return {"name": problem}
    clash = MachineConfig.objects.filter(name=name.strip()).exclude(pk=exclude_pk)
    if clash.exists():
        return {"name": f"A machine named {name.strip()!r} already exists."}
    return {}


def _check_choice(registry: MachineRegistry, machine_type: Any, driver: Any) -> dict[str, str]:
    if not isinstance(machine_type, str) or not isinstance(driver, str):
        return {"machine_type": "machine_type and driver must be slugs (text)."}
    return registry.choice_errors(machine_type, driver)


def machine_create(
    *, name: str, machine_type: str, driver: str, active: bool = True, settings: dict[str, Any] | None = None
) -> MachineConfig:
    """Add a machine. Required settings may be left out: the machine then waits, showing what is missing."""
    registry = get_registry()
    errors = {**_check_name(name), **_check_choice(registry, machine_type, driver)}
    if errors:
        raise ValidationError(errors)
    validated = validate_settings(registry.definitions_for(machine_type, driver), settings or {})
    with transaction.atomic():
        machine = MachineConfig.objects.create(
            name=name.strip(), machine_type=machine_type, driver=driver, active=bool(active)
        )
        _write_settings(machine, validated)
    return machine


# Rows in one bulk create: a lab registering its whole fleet at once, not an unbounded request.
MAX_BULK_MACHINES = 5000


def machines_create_many(*, machines: list[dict[str, Any]]) -> list[MachineConfig]:
    """Add many machines in one transaction, all or none, with one registry reload for the batch.

    Creating machines one by one bumps the registry generation each time, so every next create
    reloads the whole registry: a thousand machines took minutes. Here every row is checked against
    one registry snapshot, the rows are inserted in bulk and the generation moves once. Each row has
    the keys of ``machine_create``; errors name the row (``{"3.name": [...]}``,
    ``{"7.settings.HOST": [...]}``).
    """
    if len(machines) > MAX_BULK_MACHINES:
        raise ValidationError({"machines": f"At most {MAX_BULK_MACHINES} machines in one batch."})
    registry = get_registry()
    names = [row.get("name").strip() for row in machines if isinstance(row.get("name"), str)]
    taken = set(MachineConfig.objects.filter(name__in=names).values_list("name", flat=True))
    first_row: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    rows: list[tuple[MachineConfig, dict[str, tuple[SettingDefinition, str | None]]]] = []
    for index, row in enumerate(machines):
        name = row.get("name")
        problem = _name_problem(name)
        if problem is None and name.strip() in taken:
            problem = f"A machine named {name.strip()!r} already exists."
        elif problem is None and name.strip() in first_row:
            problem = f"Row {first_row[name.strip()]} has the same name."
        if problem is None:
            first_row[name.strip()] = index
        else:
            errors[f"{index}.name"] = [problem]
        choice = _check_choice(registry, row.get("machine_type"), row.get("driver"))
        for field, message in choice.items():
            errors[f"{index}.{field}"] = [message]
        if choice:
            continue
        try:
            validated = validate_settings(
                registry.definitions_for(row["machine_type"], row["driver"]), row.get("settings") or {}
            )
        except SettingsInvalid as exc:
            body = exc.api_body()["settings"]
            if isinstance(body, dict):
                errors.update({f"{index}.settings.{key}": list(msgs) for key, msgs in body.items()})
            else:
                errors[f"{index}.settings"] = list(body)
            continue
        config = MachineConfig(
            name=(name or "").strip(),
            machine_type=row["machine_type"],
            driver=row["driver"],
            active=bool(row.get("active", True)),
        )
        rows.append((config, validated))
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return _insert_machines(rows)
    except IntegrityError as exc:  # a machine of the same name was added meanwhile
        raise ValidationError(
            {"machines": "A machine of one of these names was just added; try again."}
        ) from exc


def _insert_machines(
    rows: list[tuple[MachineConfig, dict[str, tuple[SettingDefinition, str | None]]]],
) -> list[MachineConfig]:
    configs = MachineConfig.objects.bulk_create([config for config, _ in rows], batch_size=500)
    MachineSetting.objects.bulk_create(
        [
            MachineSetting(machine=config, config_type=definition.config_type, key=key, value=text)
            for config, validated in rows
            for key, (definition, text) in validated.items()
            if text is not None
        ],
        batch_size=1000,
    )
    generation_bump(reason=f"{len(configs)} machines created")
    machines_created.send(sender=MachineConfig, machines=configs)
    return configs


_UNSET: Any = object()


def machine_update(
    *,
    machine: MachineConfig,
    name: str = _UNSET,
    machine_type: str = _UNSET,
    driver: str = _UNSET,
    active: bool = _UNSET,
    settings: dict[str, Any] | None = None,
) -> MachineConfig:
    """Change a machine. A new type or driver is allowed: the owner tears the machine down and
    initializes it with the new driver; settings the new type/driver do not define are removed."""
    registry = get_registry()
    new_type = machine.machine_type if machine_type is _UNSET else machine_type
    new_driver = machine.driver if driver is _UNSET else driver
    errors = {} if name is _UNSET else _check_name(name, exclude_pk=machine.pk)
    if (new_type, new_driver) != (machine.machine_type, machine.driver):
        errors.update(_check_choice(registry, new_type, new_driver))
    if errors:
        raise ValidationError(errors)
    definitions = registry.definitions_for(new_type, new_driver)
    validated = validate_settings(definitions, settings or {})
    with transaction.atomic():
        if name is not _UNSET:
            machine.name = name.strip()
        if active is not _UNSET:
            machine.active = bool(active)
        if (new_type, new_driver) != (machine.machine_type, machine.driver):
            machine.machine_type, machine.driver = new_type, new_driver
            for stored in machine.settings.all():
                defined = definitions.get(stored.key)
                if defined is None or defined.config_type != stored.config_type:
                    stored.delete()
        machine.save()
        _write_settings(machine, validated)
    return machine


def machine_settings_update(*, machine: MachineConfig, settings: dict[str, Any]) -> MachineConfig:
    """Set (or, with null/empty, unset) settings of a machine, validated per setting."""
    definitions = get_registry().definitions_for(machine.machine_type, machine.driver)
    validated = validate_settings(definitions, settings)
    with transaction.atomic():
        _write_settings(machine, validated)
    return machine


def machine_set_active(*, machine: MachineConfig, active: bool) -> MachineConfig:
    if machine.active != active:
        machine.active = active
        machine.save(update_fields=["active", "updated_at"])
    return machine


class MachineInUse(DomainError):
    """A machine that jobs still refer to keeps its row, so their history stays complete."""

    status_code = 409
    code = "machine_in_use"


def machine_delete(*, machine: MachineConfig) -> None:
    """Delete a machine; its owner tears it down when it sees the change. A machine with print
    history cannot be deleted (the jobs keep pointing at it): deactivate it instead."""
    try:
        with transaction.atomic():
            machine.delete()
    except ProtectedError as exc:
        count = len(exc.protected_objects)
        raise MachineInUse(
            f"{machine.name} cannot be deleted: {count} job{'s' * (count != 1)} in its history refer to it. "
            'Deactivate it instead (PATCH {"active": false}, or untick Active in the admin): it then '
            "takes no new jobs and its history stays.",
            jobs=count,
        ) from exc


def machine_restart(*, machine: MachineConfig) -> bool:
    """Restart a machine now when this process owns it; otherwise ask its owner via the shared state.

    Returns True when the restart ran here and succeeded.
    """
    registry = get_registry()
    live = registry.get_machine(machine.pk)
    if live is None:
        raise ValidationError({"machine": "The machine is not loaded yet; try again in a second."})
    if live.config_errors:
        raise ValidationError({"machine": f"The machine cannot start: {'; '.join(live.config_errors)}"})
    if not live.active:
        raise ValidationError({"machine": "The machine is inactive; activate it first."})
    if registry.owns(live):
        return registry.restart(live)
    live.set_restart_required(True)
    return False
