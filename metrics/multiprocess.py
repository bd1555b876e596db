"""Housekeeping of the multi-process sample files."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def reset_directory() -> int:
    """Empty the directory before an installation starts its processes (samples of processes that no
    longer exist would otherwise be added up for ever). Returns the number of files removed."""
    directory = Path(settings.PROMETHEUS_MULTIPROC_DIR)
    removed = 0
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
        removed += 1
    os.makedirs(directory, exist_ok=True)
    return removed
