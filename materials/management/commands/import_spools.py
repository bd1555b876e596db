"""manage.py import_spools FILE.csv: add spools from a CSV file, all rows or none."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from materials.exceptions import MaterialsError
from materials.services import spools_import_csv


class Command(BaseCommand):
    help = (
        "Import spools from CSV (header row; material and initial_grams required; optional colour_name, "
        "colour_hex, vendor, remaining_grams, lot, cost_per_kg, location, label_id). Nothing is imported "
        "if any row is bad."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            spools = spools_import_csv(text=text)
        except MaterialsError as exc:
            lines = [exc.message, *(f"  row {e['row']}: {e['error']}" for e in exc.extra.get("errors") or [])]
            raise CommandError("\n".join(lines)) from exc
        self.stdout.write(f"imported {len(spools)} spool(s)")
