"""Measuring Python memory in tests that prove something streams instead of reading it whole."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator


@contextlib.contextmanager
def peak_python_memory() -> Iterator[dict[str, int]]:
    """The peak of Python allocations (all threads) made inside the block, in bytes."""
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    result: dict[str, int] = {}
    try:
        yield result
        _, peak = tracemalloc.get_traced_memory()
        result["peak"] = peak - before
    finally:
        if not already:
            tracemalloc.stop()
