"""Errors the material services raise; each carries the HTTP status the API answers with."""

from __future__ import annotations


class MaterialsError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class SpoolConflict(MaterialsError):
    """The spool is somewhere else, or in use, so the change cannot apply."""

    status_code = 409
    code = "conflict"


class ImportRejected(MaterialsError):
    """A CSV import with errors; ``extra["errors"]`` lists them by row. Nothing was imported."""

    status_code = 400
    code = "import_rejected"


class SpoolNotFound(MaterialsError):
    status_code = 404
    code = "not_found"
