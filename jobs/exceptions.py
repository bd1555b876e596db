"""Errors the job services raise. Each carries the HTTP status and the ``code`` the API answers with."""

from __future__ import annotations

from mes.exceptions import DomainError


class JobError(DomainError):
    status_code = 400
    code = "invalid"


class IllegalTransition(JobError):
    status_code = 409
    code = "illegal_transition"


class VersionConflict(JobError):
    """Someone changed the job since the caller read it (optimistic concurrency)."""

    status_code = 409
    code = "version_conflict"


class QueueLocked(JobError):
    status_code = 423
    code = "queue_locked"


class QueueConflict(JobError):
    """A queue operation that cannot apply, e.g. moving a job that is not queued."""

    status_code = 409
    code = "queue_conflict"


class JobValidationError(JobError):
    """Bad input: the message says what; ``reasons`` lists every failed check."""

    status_code = 400
    code = "invalid"


class UploadTooLarge(JobError):
    status_code = 413
    code = "upload_too_large"


class JobPermissionDenied(JobError):
    status_code = 403
    code = "permission_denied"


class PreviewNotFound(JobError):
    """No such checked upload of this user: never theirs, or already confirmed, cancelled or expired."""

    status_code = 404
    code = "not_found"
