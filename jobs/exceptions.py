"""Errors the job services raise. Each carries the HTTP status the API answers with."""

from __future__ import annotations


class JobError(Exception):
    status_code = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict:
        return {"detail": self.message, **self.extra}


class IllegalTransition(JobError):
    status_code = 409


class VersionConflict(JobError):
    """Someone changed the job since the caller read it (optimistic concurrency)."""

    status_code = 409


class QueueLocked(JobError):
    status_code = 423


class QueueConflict(JobError):
    """A queue operation that cannot apply, e.g. moving a job that is not queued."""

    status_code = 409


class JobValidationError(JobError):
    """Bad input: the message says what; ``reasons`` lists every failed check."""

    status_code = 400


class UploadTooLarge(JobError):
    status_code = 413


class JobPermissionDenied(JobError):
    status_code = 403
