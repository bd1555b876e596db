"""Reads: what is loaded where (one query for any number of machines), stock per material, low stock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet, Sum

from materials.models import MaterialType, Spool, SpoolDeduction, SpoolLoad


@dataclass(frozen=True)
class LoadedSpool:
    """A spool on a tool, as the scheduler and the fleet board need it (plain values, no ORM)."""

    spool_id: int
    tool: int
    material: str
    colour_name: str
    colour_hex: str
    remaining_grams: float
    low_stock: bool = False

    def describe(self) -> str:
        colour = f" {self.colour_name}" if self.colour_name else ""
        return f"T{self.tool}: {self.material}{colour}, {self.remaining_grams:.0f} g"


def tracking_enabled() -> bool:
    """Does the scheduler check spools? ``MATERIALS_TRACKING``: "on", "off" or "auto" (on once the lab
    has recorded a spool), so a lab that has not started using spools keeps printing as before."""
    mode = settings.MATERIALS_TRACKING
    if mode == "auto":
        return Spool.objects.exists()
    return mode == "on"


def safety_margin() -> tuple[float, float]:
    """(percent, grams) added to a job's need before comparing it with a spool."""
    return float(settings.MATERIALS_SAFETY_MARGIN_PERCENT), float(settings.MATERIALS_SAFETY_MARGIN_GRAMS)


def required_grams(need_grams: float) -> float:
    percent, grams = safety_margin()
    return need_grams * (1 + percent / 100) + grams


def loaded_spools_by_machine(machine_ids: Iterable) -> dict[str, tuple[LoadedSpool, ...]]:
    """Every machine's loaded spools by machine id (str), in one query, tools in order."""
    ids = list(machine_ids)  # as given: UUIDs cost Django a third of what text does to prepare
    result: dict[str, list[LoadedSpool]] = {str(m): [] for m in ids}
    if not ids:
        return {}
    rows = (
        SpoolLoad.objects.filter(unloaded_at__isnull=True, machine_id__in=ids)
        .order_by("machine_id", "tool")
        .values_list(
            "machine_id",
            "tool",
            "spool_id",
            "spool__material__name",
            "spool__colour_name",
            "spool__colour_hex",
            "spool__remaining_grams",
        )
    )
    for machine_id, tool, spool_id, material, colour_name, colour_hex, remaining in rows:
        result.setdefault(str(machine_id), []).append(
            LoadedSpool(
                spool_id=spool_id,
                tool=tool,
                material=material,
                colour_name=colour_name,
                colour_hex=colour_hex,
                remaining_grams=float(remaining),
            )
        )
    return {m: tuple(spools) for m, spools in result.items()}


def material_types() -> QuerySet[MaterialType]:
    return MaterialType.objects.all()


def material_by_name(name: str) -> MaterialType | None:
    return MaterialType.objects.filter(name__iexact=(name or "").strip()).first()


def material_properties() -> dict[str, tuple[float, float]]:
    """(density g/cm³, diameter mm) by lower-case material name, for converting lengths."""
    return {
        name.lower(): (float(density), float(diameter))
        for name, density, diameter in MaterialType.objects.values_list("name", "density", "diameter")
    }


def spool_list() -> QuerySet[Spool]:
    """Spools with their material and current load (if any) prefetched: two queries for a page."""
    current = SpoolLoad.objects.filter(unloaded_at__isnull=True).select_related("machine")
    return Spool.objects.select_related("material").prefetch_related(
        Prefetch("loads", queryset=current, to_attr="current_loads")
    )


def spool_current_load(spool: Spool) -> SpoolLoad | None:
    loads = getattr(spool, "current_loads", None)
    if loads is None:
        return spool.loads.filter(unloaded_at__isnull=True).select_related("machine").first()
    return loads[0] if loads else None


def spool_delete_refusal(spool: Spool) -> str | None:
    """Why a spool may not be deleted (loaded now, or jobs took filament from it); None when it may."""
    current = spool.loads.filter(unloaded_at__isnull=True).select_related("machine").first()
    if current is not None:
        return f"spool {spool.label} is loaded on {current.machine.name} T{current.tool}; unload it first"
    if spool.deductions.exists():
        return f"spool {spool.label} has print history (jobs took filament from it); archive it instead"
    return None


def stock_by_material() -> list[dict]:
    """Per material: remaining grams over all non-archived spools, the threshold and the warning (one query)."""
    result = []
    materials = MaterialType.objects.annotate(
        total=Sum("spools__remaining_grams", filter=Q(spools__archived=False))
    ).order_by("name")
    for material in materials:
        total = material.total or Decimal("0")
        result.append(
            {
                "material": material,
                "remaining_grams": total,
                "low_stock_grams": material.low_stock_grams,
                "low_stock": total < material.low_stock_grams,
            }
        )
    return result


def low_stock_material_names() -> set[str]:
    return {row["material"].name for row in stock_by_material() if row["low_stock"]}


def deductions_for_job(job_id) -> QuerySet[SpoolDeduction]:
    return SpoolDeduction.objects.filter(job_id=job_id).order_by("tool")


def spool_history(spool: Spool) -> QuerySet[SpoolLoad]:
    return spool.loads.select_related("machine", "loaded_by", "unloaded_by").order_by("-loaded_at")


def spools_available(*, material: str = "", colour: str = "") -> QuerySet[Spool]:
    """Spools on the shelf (not loaded, not archived, something left), for students asking "is there PETG?"."""
    loaded = SpoolLoad.objects.filter(unloaded_at__isnull=True).values("spool_id")
    qs = spool_list().filter(archived=False, remaining_grams__gt=0).exclude(pk__in=loaded)
    if material:
        qs = qs.filter(material__name__iexact=material)
    if colour:
        qs = qs.filter(Q(colour_name__iexact=colour) | Q(colour_hex__iexact=colour))
    return qs
