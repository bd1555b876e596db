"""Upload handling: G-code is streamed to a temporary file and hashed as it arrives."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler

from jobs.exceptions import UploadTooLarge

MULTIPART_OVERHEAD = 64 * 1024  # form fields and boundaries around the file(s)


def max_upload_bytes() -> int:
    return int(settings.JOBS_MAX_UPLOAD_BYTES)


def binary_size(size: int) -> str:
    """``200 MiB``, ``1.5 GiB``, ``2 KiB``: limits are set in powers of two, so say them that way."""
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{round(value, 1):g} {unit}"


def max_batch_bytes() -> int:
    return int(settings.JOBS_MAX_BATCH_BYTES)


def too_large_message(limit: int) -> str:
    return f"the file is larger than the upload limit of {binary_size(limit)}"


def batch_too_large_message(limit: int) -> str:
    return f"the files together are larger than the batch upload limit of {binary_size(limit)}"


def too_many_files_message(limit: int) -> str:
    return f"at most {limit} file{'s' * (limit != 1)} in one upload"


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Always to disk (never memory), SHA-256 on the fly, and stop as soon as a file passes the limit
    or, for a batch, all files together pass ``max_total_bytes``.

    ``skip_oversized`` (the submit page): a file over the limit is dropped, its name and reason kept in
    ``skipped``, and the other files of the request go on (the batch total still stops the request)."""

    def __init__(
        self,
        request=None,
        *,
        max_bytes: int,
        max_files: int = 1,
        max_total_bytes: int | None = None,
        skip_oversized: bool = False,
    ):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.max_total_bytes = max_total_bytes or max_bytes * max_files
        self.skip_oversized = skip_oversized
        self.skipped: list[tuple[str, str]] = []
        self.total_received = 0
        self.files_received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.max_bytes * self.max_files + MULTIPART_OVERHEAD:
            raise UploadTooLarge(too_large_message(self.max_bytes), limit=self.max_bytes)
        if (
            content_length
            and self.max_files > 1
            and content_length > self.max_total_bytes + MULTIPART_OVERHEAD
        ):
            raise UploadTooLarge(batch_too_large_message(self.max_total_bytes), limit=self.max_total_bytes)
        return None

    def new_file(self, *args, **kwargs):
        self.files_received += 1
        if self.files_received > self.max_files:
            raise UploadTooLarge(too_many_files_message(self.max_files), limit=self.max_files)
        super().new_file(*args, **kwargs)
        self.hasher = hashlib.sha256()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        self.total_received += len(raw_data)
        if self.received > self.max_bytes:
            self.file.close()
            if self.skip_oversized:
                self.skipped.append((self.file_name, too_large_message(self.max_bytes)))
                raise SkipFile(self.file_name)
            raise UploadTooLarge(too_large_message(self.max_bytes), limit=self.max_bytes)
        if self.total_received > self.max_total_bytes:
            self.file.close()
            raise UploadTooLarge(batch_too_large_message(self.max_total_bytes), limit=self.max_total_bytes)
        self.hasher.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self.hasher.hexdigest()
        return uploaded


def install_upload_handler(
    request, *, max_files: int = 1, skip_oversized: bool = False
) -> HashingUploadHandler:
    """Call before the request body is read (DRF parses lazily, so at the start of the view)."""
    django_request = getattr(request, "_request", request)
    handler = HashingUploadHandler(
        django_request,
        max_bytes=max_upload_bytes(),
        max_files=max_files,
        max_total_bytes=max_batch_bytes() if max_files > 1 else None,
        skip_oversized=skip_oversized,
    )
    django_request.upload_handlers = [handler]
    return handler
