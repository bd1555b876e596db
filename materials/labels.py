"""Spool labels: a QR code (segno, as inline SVG) carrying the label id, with what a person needs to read."""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe

from materials.models import Spool


def label_svg(text: str, *, scale: int = 3) -> SafeString:
    """The QR code of ``text`` as an SVG element (no XML declaration), safe to place in HTML."""
    qr = segno.make(text, error="m")
    svg = qr.svg_inline(scale=scale, border=2, dark="#000", light="#fff")
    return mark_safe(svg)  # noqa: S308 - segno builds the markup from the encoded bits only


def spool_labels(spools: list[Spool]) -> list[dict]:
    return [{"spool": spool, "text": spool.label, "qr": label_svg(spool.label)} for spool in spools]
