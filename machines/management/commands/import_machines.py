"""Register many machines from a CSV file, all or none, in seconds (one registry reload for the file).

Columns: ``name``, ``machine_type``, ``driver``, optionally ``active`` (true/false), and one column per
setting, named by its key (``URL``, ``API_KEY``, ``POLL_INTERVAL`` …); an empty cell leaves that
setting unset. ``GET /api/machines/types/`` and ``/api/machines/drivers/`` list the keys.

    name,machine_type,driver,URL,API_KEY
    mk4-01,printer-3d,prusalink,http://10.0.0.21,secret
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from machines.services import machines_create_many

FIXED = ("name", "machine_type", "driver", "active")
TRUE, FALSE = {"true", "yes", "1", "on", ""}, {"false", "no", "0", "off"}


def rows_from_csv(path: Path) -> list[dict]:
    """The file's rows as ``machines_create_many`` rows; a malformed file is a CommandError."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in FIXED[:3] if column not in (reader.fieldnames or [])]
            if missing:
                raise CommandError(f"{path}: the header lacks the column(s) {', '.join(missing)}")
            rows = []
            for line, record in enumerate(reader, start=2):
                if None in record:
                    raise CommandError(f"{path}, line {line}: more cells than the header has columns")
                active = (record.get("active") or "").strip().lower()
                if active not in TRUE | FALSE:
                    raise CommandError(f"{path}, line {line}: active must be true or false, not {active!r}")
                rows.append(
                    {
                        "name": record["name"],
                        "machine_type": record["machine_type"].strip(),
                        "driver": record["driver"].strip(),
                        "active": active in TRUE,
                        "settings": {
                            key: value for key, value in record.items() if key not in FIXED and value != ""
                        },
                    }
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    return rows


def _line_of(field: str) -> str:
    """``3.settings.URL`` → ``line 5: settings.URL`` (row 0 is line 2, under the header)."""
    match = re.match(r"(\d+)\.(.*)", field)
    return f"line {int(match.group(1)) + 2}: {match.group(2)}" if match else field


class Command(BaseCommand):
    help = "Register machines from a CSV file (name, machine_type, driver, active, one column per setting)."

    def add_arguments(self, parser):
        parser.add_argument("csv_file", type=Path)

    def handle(self, *args, csv_file: Path, **options):
        rows = rows_from_csv(csv_file)
        if not rows:
            raise CommandError(f"{csv_file} has no machines under its header")
        started = time.monotonic()
        try:
            created = machines_create_many(machines=rows)
        except ValidationError as exc:
            problems = [
                f"  {_line_of(field)}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            ]
            raise CommandError(
                f"nothing imported; {len(problems)} problem(s) in {csv_file}:\n" + "\n".join(problems)
            ) from exc
        self.stdout.write(
            f"Registered {len(created)} machine(s) from {csv_file} in {time.monotonic() - started:.1f} s."
        )
