"""manage.py import_trainings FILE.csv: record completed trainings from a CSV file, all rows or none."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from policies.exceptions import ImportRejected, PolicyError
from policies.services import training_records_import_csv


class Command(BaseCommand):
    help = (
        "Import training records from CSV (header row; username, training, completed_on required; optional "
        "trainer, expires_on, notes; dates as YYYY-MM-DD). Nothing is imported if any row is bad."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            records = training_records_import_csv(text=text)
        except PolicyError as exc:
            rows = exc.rows if isinstance(exc, ImportRejected) else []
            raise CommandError(
                "\n".join([exc.message, *(f"  row {r['row']}: {r['error']}" for r in rows)])
            ) from exc
        self.stdout.write(f"imported {len(records)} training record(s)")
