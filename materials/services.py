"""Writes: spools created, loaded, unloaded, deleted, imported; what a job used deducted exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Sum
from django.utils import timezone

from events.services import event_record
from events.types import EventType
from machines.models import MachineConfig
from materials.exceptions import ImportRejected, MaterialsError, SpoolConflict, SpoolNotFound
from materials.models import MaterialType, Spool, SpoolDeduction, SpoolLoad
from materials.selectors import material_by_name, spool_delete_refusal
from mes.csvrows import csv_rows

SPOOL_FIELDS = (
    "colour_name",
    "colour_hex",
    "vendor",
    "initial_grams",
    "remaining_grams",
    "lot",
    "cost_per_kg",
    "location",
    "label_id",
    "archived",
)
CSV_MAX_ROWS = 5000


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def _resolve_material(material: MaterialType | str | int) -> MaterialType:
    if isinstance(material, MaterialType):
        return material
    if isinstance(material, int):
        found = MaterialType.objects.filter(pk=material).first()
    else:
        found = material_by_name(material)
    if found is None:
        known = ", ".join(MaterialType.objects.values_list("name", flat=True)) or "none yet"
        raise MaterialsError(f"unknown material {material!r} (known: {known})", field="material")
    return found


def _save_validated(spool: Spool) -> Spool:
    if spool.colour_hex:
        spool.colour_hex = spool.colour_hex.upper()
    try:
        spool.full_clean()
    except ValidationError as exc:
        raise MaterialsError(_validation_message(exc), errors=exc.message_dict) from exc
    if spool.remaining_grams > spool.initial_grams:
        raise MaterialsError(
            f"remaining grams ({spool.remaining_grams}) cannot exceed the initial grams ({spool.initial_grams})"
        )
    spool.save()
    return spool


@transaction.atomic
def spool_create(*, material: MaterialType | str | int, initial_grams: Decimal, **fields) -> Spool:
    """A new spool; remaining grams default to the initial grams (a fresh spool)."""
    unknown = set(fields) - set(SPOOL_FIELDS)
    if unknown:
        raise MaterialsError(f"unknown spool field(s): {', '.join(sorted(unknown))}")
    fields.setdefault("remaining_grams", initial_grams)
    return _save_validated(Spool(material=_resolve_material(material), initial_grams=initial_grams, **fields))


@transaction.atomic
def spool_update(*, spool: Spool, material: MaterialType | str | int | None = None, **fields) -> Spool:
    unknown = set(fields) - set(SPOOL_FIELDS)
    if unknown:
        raise MaterialsError(f"unknown spool field(s): {', '.join(sorted(unknown))}")
    locked = Spool.objects.select_for_update().get(pk=spool.pk)
    if material is not None:
        locked.material = _resolve_material(material)
    for key, value in fields.items():
        setattr(locked, key, value)
    return _save_validated(locked)


@transaction.atomic
def spool_delete(*, spool: Spool) -> None:
    """Delete a spool that was never used; a loaded or used spool is refused (archive it instead)."""
    locked = Spool.objects.select_for_update().get(pk=spool.pk)
    refusal = spool_delete_refusal(locked)
    if refusal:
        raise SpoolConflict(refusal)
    try:
        locked.loads.all().delete()
        locked.delete()
    except ProtectedError as exc:
        raise SpoolConflict(
            f"spool {locked.label} has print history (jobs took filament from it); archive it instead"
        ) from exc


@transaction.atomic
def spool_load(
    *, spool: Spool | int, machine: MachineConfig | str | uuid.UUID, tool: int = 0, user=None
) -> SpoolLoad:
    """Put a spool on a tool. A spool already on another machine or tool is refused (unload it there
    first); a spool already on the tool is swapped out (unloaded by the same person at the same time)."""
    pk = spool.pk if isinstance(spool, Spool) else spool
    locked = Spool.objects.select_for_update().select_related("material").filter(pk=pk).first()
    if locked is None:
        raise SpoolNotFound(f"spool {pk} does not exist")
    machine_obj = (
        machine if isinstance(machine, MachineConfig) else MachineConfig.objects.filter(pk=machine).first()
    )
    if machine_obj is None:
        raise MaterialsError(f"machine {machine} does not exist")
    if not 0 <= int(tool) <= 15:
        raise MaterialsError(f"tool {tool} is out of range (0 to 15)")
    if locked.archived:
        raise SpoolConflict(f"spool {locked.label} is archived")
    current = locked.loads.filter(unloaded_at__isnull=True).select_related("machine").first()
    if current is not None:
        if current.machine_id == machine_obj.pk and current.tool == tool:
            return current
        raise SpoolConflict(
            f"spool {locked.label} is already loaded on {current.machine.name} T{current.tool}; unload it there first",
            loaded_on={"machine": str(current.machine_id), "tool": current.tool},
        )
    now = timezone.now()
    actor = user if user is not None and user.is_authenticated else None
    SpoolLoad.objects.select_for_update().filter(
        machine=machine_obj, tool=tool, unloaded_at__isnull=True
    ).update(unloaded_at=now, unloaded_by=actor)
    try:
        with transaction.atomic():
            return SpoolLoad.objects.create(
                spool=locked, machine=machine_obj, tool=tool, loaded_at=now, loaded_by=actor
            )
    except IntegrityError as exc:  # a concurrent load won the tool or the spool
        raise SpoolConflict("the tool or the spool changed meanwhile; reload and try again") from exc


@transaction.atomic
def spool_unload(*, spool: Spool | int, user=None, location: str | None = None) -> SpoolLoad:
    """Take a spool off its machine; the load stays in the history. ``location``: where it goes now."""
    pk = spool.pk if isinstance(spool, Spool) else spool
    locked = Spool.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise SpoolNotFound(f"spool {pk} does not exist")
    current = locked.loads.select_for_update().filter(unloaded_at__isnull=True).first()
    if current is None:
        raise SpoolConflict(f"spool {locked.label} is not loaded on any machine")
    current.unloaded_at = timezone.now()
    current.unloaded_by = user if user is not None and user.is_authenticated else None
    current.save(update_fields=["unloaded_at", "unloaded_by"])
    if location is not None:
        locked.location = location
        locked.save(update_fields=["location", "updated_at"])
    return current


@dataclass(frozen=True)
class ToolUse:
    """Grams a job took on one tool (``None``: the file did not say)."""

    tool: int
    grams: float | None


def job_usage_deduct(
    *, job_id: uuid.UUID | str, machine_id, uses: Iterable[ToolUse], fraction: float = 1.0, note: str = ""
) -> list[SpoolDeduction]:
    """Deduct what a finished, failed or cancelled job used from the spools on its machine's tools.

    Runs inside the caller's transaction (the job's terminal transition), so "ended" and "deducted"
    commit together or not at all. Idempotent: the (job, tool) rows are the ledger, and a second call
    for the same job deducts nothing. ``fraction`` scales the need (a print that failed half-way).
    """
    job_uuid = uuid.UUID(str(job_id))
    if SpoolDeduction.objects.filter(job_id=job_uuid).exists():
        return []
    fraction = min(max(float(fraction), 0.0), 1.0)
    now = timezone.now()
    rows = []
    with transaction.atomic():
        for use in uses:
            load = (
                SpoolLoad.objects.filter(machine_id=machine_id, tool=use.tool, unloaded_at__isnull=True)
                .select_related("spool")
                .first()
            )
            spool = Spool.objects.select_for_update().get(pk=load.spool_id) if load else None
            grams = Decimal("0") if use.grams is None else Decimal(str(round(use.grams * fraction, 2)))
            if spool is not None and grams:
                spool.remaining_grams = max(Decimal("0"), spool.remaining_grams - grams)
                spool.save(update_fields=["remaining_grams", "updated_at"])
            detail = note
            if use.grams is None:
                detail = "need unknown: nothing deducted"
            elif spool is None:
                detail = f"no spool was loaded on T{use.tool}"
            if spool is not None and grams:
                _low_stock_event(
                    spool=spool, grams=grams, machine_id=machine_id, job_id=job_uuid, tool=use.tool
                )
            rows.append(
                SpoolDeduction.objects.create(
                    job_id=job_uuid,
                    tool=use.tool,
                    spool=spool,
                    machine_id=machine_id,
                    grams=grams if spool is not None else Decimal("0"),
                    note=detail[:200],
                    created_at=now,
                )
            )
    return rows


def _low_stock_event(*, spool: Spool, grams: Decimal, machine_id, job_id: uuid.UUID, tool: int) -> None:
    """``spool.low`` when this deduction takes the lab's stock of the material below its threshold
    (once: only the deduction that crosses it, in the same transaction)."""
    material = spool.material
    total = Spool.objects.filter(material=material, archived=False).aggregate(total=Sum("remaining_grams"))[
        "total"
    ] or Decimal("0")
    if not (total < material.low_stock_grams <= total + grams):
        return
    machine_name = MachineConfig.objects.filter(pk=machine_id).values_list("name", flat=True).first() or ""
    event_record(
        type=EventType.SPOOL_LOW,
        payload={
            "machine_name": machine_name,
            "material": material.name,
            "remaining_grams": float(total),
            "low_stock_grams": float(material.low_stock_grams),
            "spool": spool.pk,
            "tool": tool,
            "detail": f"{material.name}: {total:.0f} g left on all spools (threshold {material.low_stock_grams:.0f} g); "
            f"spool {spool.label} on T{tool} has {spool.remaining_grams:.0f} g",
        },
        actor_kind="system",
        machine_id=machine_id,
        job_id=job_id,
    )


# --- CSV import ------------------------------------------------------------------------------------

CSV_COLUMNS = {
    "material",
    "colour_name",
    "colour_hex",
    "vendor",
    "initial_grams",
    "remaining_grams",
    "lot",
    "cost_per_kg",
    "location",
    "label_id",
}


def _decimal(value: str, column: str, *, required: bool) -> Decimal | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise MaterialsError(f"{column} is required")
        return None
    try:
        number = Decimal(value.replace(",", "."))
    except InvalidOperation as exc:
        raise MaterialsError(f"{column} {value!r} is not a number") from exc
    if not number.is_finite() or number < 0:
        raise MaterialsError(f"{column} must not be negative (got {value})")
    return number


def spools_import_csv(*, text: str) -> list[Spool]:
    """Import spools from CSV (header row; columns: material, initial_grams required, others optional).

    All or nothing: any bad row rejects the file with every row's errors (``ImportRejected.extra``).
    A row whose label id exists already is an error, so importing a file twice adds nothing twice.
    """
    errors: list[dict] = []
    created: list[Spool] = []
    labels_seen: set[str] = set()
    rows = csv_rows(
        text,
        required={"material", "initial_grams"},
        columns=CSV_COLUMNS,
        max_rows=CSV_MAX_ROWS,
        error=ImportRejected,
    )
    with transaction.atomic():
        for number, row in rows:
            try:
                label = row.get("label_id", "")
                if label and (label in labels_seen or Spool.objects.filter(label_id=label).exists()):
                    raise MaterialsError(f"label id {label!r} exists already")
                if label:
                    labels_seen.add(label)
                initial = _decimal(row.get("initial_grams", ""), "initial_grams", required=True)
                remaining = _decimal(row.get("remaining_grams", ""), "remaining_grams", required=False)
                fields = {
                    key: row[key]
                    for key in ("colour_name", "colour_hex", "vendor", "lot", "location", "label_id")
                    if row.get(key)
                }
                cost = _decimal(row.get("cost_per_kg", ""), "cost_per_kg", required=False)
                if cost is not None:
                    fields["cost_per_kg"] = cost
                if remaining is not None:
                    fields["remaining_grams"] = remaining
                with transaction.atomic():
                    created.append(
                        spool_create(material=row.get("material", ""), initial_grams=initial, **fields)
                    )
            except MaterialsError as exc:
                errors.append({"row": number, "error": exc.message})
        if errors:
            raise ImportRejected(f"{len(errors)} row(s) have errors; nothing was imported", errors=errors)
    return created
