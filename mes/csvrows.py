"""Reading a CSV upload the one way every import of Lab MES does (spools, training records …).

The header is checked before any row (required and unknown columns), cells are stripped, column names
are case-insensitive, blank rows are skipped and the row count is bounded, so every import words the
same problems the same way. The caller turns each row into its objects and collects row errors.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


def csv_rows(
    text: str, *, required: set[str], columns: set[str], max_rows: int, error: type[Exception]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: text}) for each non-blank row; ``error(message)`` for a bad header, too
    many rows or text that is not CSV (raised when iteration reaches the problem)."""
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        header = {(name or "").strip().lower() for name in reader.fieldnames or []}
        missing = required - header
        if missing:
            raise error(
                f"the CSV lacks the column(s) {', '.join(sorted(missing))}; "
                f"columns: {', '.join(sorted(columns))}"
            )
        unknown = header - columns
        if unknown:
            raise error(f"unknown CSV column(s): {', '.join(sorted(unknown))}")
        for number, raw in enumerate(reader, start=2):
            if number - 1 > max_rows:
                raise error(f"the CSV has more than {max_rows} rows")
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            if any(row.values()):
                yield number, row
    except csv.Error as exc:
        raise error(f"the file is not valid CSV: {exc}") from exc
