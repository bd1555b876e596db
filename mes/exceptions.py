"""The base of errors that services raise for the API to answer with a 4xx.

Ground floor: no app, no DRF. An app's errors subclass ``DomainError`` with their own status and code;
the project's DRF exception handler (``mes.api.exceptions``) turns any of them into the one error shape.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the caller can act on: ``message`` for people, ``code`` for programs."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, **extra) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra

    def as_dict(self) -> dict:
        return {"detail": self.message, "code": self.code, **self.extra}
