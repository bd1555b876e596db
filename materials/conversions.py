"""Filament length ↔ mass. Pure functions (no Django), shared by the pre-flight and the accounting."""

from __future__ import annotations

import math


def grams_from_length(*, length_mm: float, density_g_cm3: float, diameter_mm: float) -> float:
    """Mass of ``length_mm`` of filament: cross-section times length gives mm³, times density / 1000 gives g."""
    if length_mm < 0 or density_g_cm3 <= 0 or diameter_mm <= 0:
        raise ValueError("length, density and diameter must be positive")
    area_mm2 = math.pi * (diameter_mm / 2) ** 2
    return area_mm2 * length_mm * density_g_cm3 / 1000.0


def grams_from_volume(*, volume_mm3: float, density_g_cm3: float) -> float:
    if volume_mm3 < 0 or density_g_cm3 <= 0:
        raise ValueError("volume and density must be positive")
    return volume_mm3 * density_g_cm3 / 1000.0
