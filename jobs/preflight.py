"""Does a G-code file fit a machine? Used at upload (pre-flight) and by the scheduler (eligibility).

Machine capabilities come from ``jobs.selectors.machine_capabilities``; this module only compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from jobs.filament import spool_fit_reason
from materials.selectors import LoadedSpool

BOUNDS_TOLERANCE_MM = 0.5


@dataclass(frozen=True)
class JobConstraints:
    machine_type: str = "printer-3d"
    material: str = ""
    colour: str = ""
    nozzle_diameter: Decimal | None = None
    tags: tuple[str, ...] = ()
    target_machine_id: str | None = None


@dataclass(frozen=True)
class MachineCapabilities:
    """What a machine can print; ``None`` means the lab has not said, and the check is skipped."""

    machine_id: str
    name: str
    machine_type: str
    active: bool = True
    build_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    build_volume: tuple[float, float, float] | None = None
    nozzle_diameter: float | None = None
    loaded_materials: tuple[str, ...] | None = None
    max_nozzle_temp: float | None = None
    max_bed_temp: float | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    # What changes from hour to hour (the scheduler checks it; the pre-flight does not refuse for it):
    # loaded spools (None: the lab does not track spools) and maintenance (the reason, "" when not).
    spools: tuple[LoadedSpool, ...] | None = None
    margin: tuple[float, float] = (0.0, 0.0)
    maintenance: str = ""


def material_reason(caps: MachineCapabilities, *, metadata: dict, constraints: JobConstraints) -> str | None:
    """Why the machine's loaded spools cannot take the job; None when they can or spools are not tracked."""
    if caps.spools is None:
        return None
    return spool_fit_reason(
        spools=caps.spools,
        need=metadata.get("filament_need") or {},
        material=constraints.material,
        colour=constraints.colour,
        metadata=metadata,
        margin=caps.margin,
    )


def machine_fit_reasons(
    caps: MachineCapabilities, *, metadata: dict, constraints: JobConstraints, transient: bool = True
) -> list[str]:
    """Every reason the job cannot print on this machine; empty when it fits.

    ``transient=False`` (the pre-flight) leaves out what staff fix in minutes: spools and maintenance.
    """
    reasons: list[str] = []
    if not caps.active:
        reasons.append("the machine is not active")
    if transient and caps.maintenance:
        reasons.append(f"the machine is in maintenance ({caps.maintenance})")
    if transient:
        spool_reason = material_reason(caps, metadata=metadata, constraints=constraints)
        if spool_reason:
            reasons.append(spool_reason)
    if caps.machine_type != constraints.machine_type:
        reasons.append(f"the machine is a {caps.machine_type}, the job needs a {constraints.machine_type}")
    missing_tags = sorted(set(constraints.tags) - set(caps.tags))
    if missing_tags:
        reasons.append(f"the machine lacks the tag(s) {', '.join(missing_tags)}")
    if caps.nozzle_diameter is not None:
        wanted = constraints.nozzle_diameter
        if wanted is not None and abs(float(wanted) - caps.nozzle_diameter) > 1e-6:
            reasons.append(
                f"the machine has a {caps.nozzle_diameter} mm nozzle, the job asks for {wanted} mm"
            )
        sliced = metadata.get("nozzle_diameter")
        if sliced and abs(float(sliced) - caps.nozzle_diameter) > 1e-6:
            reasons.append(
                f"the file was sliced for a {sliced} mm nozzle, the machine has {caps.nozzle_diameter} mm"
            )
    if caps.loaded_materials is not None:
        wanted_materials = (
            [constraints.material] if constraints.material else list(metadata.get("materials") or [])
        )
        loaded = {m.lower() for m in caps.loaded_materials}
        missing = [m for m in wanted_materials if m and m.lower() not in loaded]
        if missing:
            shown = ", ".join(caps.loaded_materials) or "nothing"
            reasons.append(f"{', '.join(missing)} is not loaded (loaded: {shown})")
    temps = metadata.get("temperatures") or {}
    if caps.max_nozzle_temp is not None and (temps.get("max_nozzle") or 0) > caps.max_nozzle_temp:
        reasons.append(
            f"the file heats the nozzle to {temps['max_nozzle']} °C, above the machine's {caps.max_nozzle_temp} °C"
        )
    if caps.max_bed_temp is not None and (temps.get("max_bed") or 0) > caps.max_bed_temp:
        reasons.append(
            f"the file heats the bed to {temps['max_bed']} °C, above the machine's {caps.max_bed_temp} °C"
        )
    bounds = metadata.get("bounds")
    if caps.build_volume is not None and bounds:
        for i, axis in enumerate("XYZ"):
            low, high = caps.build_min[i], caps.build_min[i] + caps.build_volume[i]
            if bounds["min"][i] < low - BOUNDS_TOLERANCE_MM or bounds["max"][i] > high + BOUNDS_TOLERANCE_MM:
                reasons.append(
                    f"the print spans {axis} {bounds['min'][i]}…{bounds['max'][i]} mm, "
                    f"outside the build volume {low:g}…{high:g} mm"
                )
    return reasons


def preflight_reasons(
    candidates: list[MachineCapabilities], *, metadata: dict, constraints: JobConstraints
) -> list[str]:
    """Empty when at least one candidate fits; otherwise each machine's reasons, by name."""
    if not candidates:
        if constraints.target_machine_id:
            return ["the chosen machine does not exist"]
        return [f"the lab has no active machine of type {constraints.machine_type!r}"]
    per_machine = {
        c.name: machine_fit_reasons(c, metadata=metadata, constraints=constraints, transient=False)
        for c in candidates
    }
    if any(not reasons for reasons in per_machine.values()):
        return []
    return [f"{name}: {reason}" for name, reasons in per_machine.items() for reason in reasons]
