"""Errors the policy services raise; the project's API error handler answers them in the one error shape."""

from __future__ import annotations

from mes.exceptions import DomainError


class PolicyError(DomainError):
    status_code = 400
    code = "invalid"


class PolicyConflict(PolicyError):
    status_code = 409
    code = "conflict"


class ImportRejected(PolicyError):
    """A CSV import with errors, nothing imported. ``rows``: [{"row": n, "error": text}]; the API shows
    them as ``errors`` keyed "row n"."""

    code = "import_rejected"

    def __init__(self, message: str, *, rows: list[dict] | None = None) -> None:
        self.rows = rows or []
        extra = {"errors": {f"row {r['row']}": [r["error"]] for r in self.rows}} if self.rows else {}
        super().__init__(message, **extra)
