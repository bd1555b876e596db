"""A job's filament need in grams per tool, from what the slicer wrote, and the spool check on it.

The slicer's own grams win; otherwise a length (or Cura's volume) is converted with the density and
diameter the file states, else those of the lab's material type (``materials``). A need that cannot be
worked out is "unknown": the job is accepted and the scheduler then checks only the material.
"""

from __future__ import annotations

from materials.conversions import grams_from_length, grams_from_volume
from materials.selectors import LoadedSpool, material_properties

UNKNOWN = "need unknown"


def filament_need(*, metadata: dict, material: str = "") -> dict:
    """``{"known", "tools": [{"tool", "material", "grams"}], "note"}`` for the job's metadata.

    ``material``: what the job asked for; it names the material of a file that does not say.
    """
    tools = metadata.get("filament_tools") or []
    if not tools:
        note = (
            "the file's filament comments are unreadable"
            if metadata.get("filament_garbled")
            else ("the file has no filament comments")
        )
        return {"known": False, "tools": [], "note": f"{UNKNOWN}: {note}"}
    properties = material_properties()
    result, problems = [], []
    for entry in tools:
        name = material or entry.get("material") or ""
        grams = entry.get("weight_g")
        if not grams:
            density, diameter = entry.get("density"), entry.get("diameter")
            known = properties.get(name.lower())
            density = density or (known[0] if known else None)
            diameter = diameter or (known[1] if known else None)
            if entry.get("length_mm") and density and diameter:
                grams = grams_from_length(
                    length_mm=entry["length_mm"], density_g_cm3=density, diameter_mm=diameter
                )
            elif entry.get("volume_mm3") and density:
                grams = grams_from_volume(volume_mm3=entry["volume_mm3"], density_g_cm3=density)
            else:
                problems.append(f"T{entry['tool']}: no density for {name or 'an unnamed material'}")
        result.append({"tool": entry["tool"], "material": name, "grams": round(grams, 2) if grams else None})
    known = not problems and not metadata.get("filament_garbled")
    note = "" if known else f"{UNKNOWN}: " + ("; ".join(problems) or "some filament comments are unreadable")
    return {"known": known, "tools": result, "note": note}


def need_grams(need: dict) -> float | None:
    """Total grams over the tools, or None when the need is unknown."""
    if not need or not need.get("known"):
        return None
    return round(sum(t["grams"] or 0 for t in need.get("tools", [])), 2)


def _wanted(*, need: dict, material: str, metadata: dict) -> list[tuple[int, str, float | None]]:
    """(tool, material, grams or None) the machine must hold."""
    tools = (need or {}).get("tools") or []
    known = bool(need and need.get("known"))
    if tools:
        return [
            (t["tool"], material or t.get("material") or "", t["grams"] if known else None) for t in tools
        ]
    names = [material] if material else list(metadata.get("materials") or [])
    return [(0, names[0] if names else "", None)]


def _colour_matches(spool: LoadedSpool, colour: str) -> bool:
    colour = colour.strip().lower()
    return spool.colour_name.lower() == colour or spool.colour_hex.lower() == colour


def spool_fit_reason(
    *,
    spools: tuple[LoadedSpool, ...],
    need: dict,
    material: str,
    colour: str,
    metadata: dict,
    margin: tuple[float, float],
) -> str | None:
    """Why the loaded spools cannot print this job (None when they can)."""
    by_tool = {s.tool: s for s in spools}
    for tool, name, grams in _wanted(need=need, material=material, metadata=metadata):
        spool = by_tool.get(tool)
        if spool is None:
            return f"no spool is loaded on T{tool}"
        if name and spool.material.lower() != name.lower():
            return f"T{tool} has {spool.material} loaded, the job needs {name}"
        if colour and not _colour_matches(spool, colour):
            return f"T{tool} has {spool.colour_name or spool.colour_hex or 'an unnamed colour'} loaded, the job asks for {colour}"
        required = required_with_margin(grams, margin) if grams is not None else 0.0
        if spool.remaining_grams <= 0 or spool.remaining_grams < required:
            return f"T{tool} has {spool.remaining_grams:.0f} g of {spool.material} left, the job needs ≥ {required:.0f} g"
    return None


def required_with_margin(grams: float, margin: tuple[float, float]) -> float:
    percent, extra = margin
    return grams * (1 + percent / 100) + extra


def waiting_text(
    *, need: dict, material: str, colour: str, metadata: dict, margin: tuple[float, float]
) -> str:
    """What a queue entry says when no machine has a fitting spool: "waiting: no loaded PETG spool with ≥ 42 g"."""
    parts = []
    for _tool, name, grams in _wanted(need=need, material=material, metadata=metadata):
        what = " ".join(p for p in (name, colour) if p) or "filament"
        if grams is not None:
            parts.append(f"{what} spool with ≥ {required_with_margin(grams, margin):.0f} g")
        else:
            parts.append(f"{what} spool")
    return "waiting: no loaded " + " and ".join(parts)
