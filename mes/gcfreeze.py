"""Keep the objects a process holds for its whole life out of the garbage collector's full passes.

A web worker holds ~150,000 long-lived objects (Django, DRF, the URL conf, every app's modules); a
full (generation 2) collection walks all of them, and under load one fell into a machine-list request
every few requests: ~100-150 ms on top of a ~70 ms answer, the whole p99. ``gc.freeze()`` after
start-up moves them to the permanent generation, which collections skip (refcounting still frees
what it can). Ground floor: imports no app.

The machine registry is long-lived too but is rebuilt when machines change; ``refreeze()`` (called
after each reload) unfreezes, collects (so the previous registry, reference cycles included, is
freed rather than kept forever in the permanent generation) and freezes again: one full pass per
reload instead of one every few requests. It does nothing in a process that did not ask for
freezing (tests, shells, management commands).
"""

from __future__ import annotations

import gc
import logging
import threading
import time

logger = logging.getLogger(__name__)

_enabled = False
_lock = threading.Lock()


def enabled() -> bool:
    return _enabled


def freeze_after_startup(*, load_urls: bool = True) -> int:
    """Import what the process will use, collect once and freeze; refreeze() works from now on.

    Returns the number of frozen objects."""
    global _enabled
    if load_urls:
        from django.urls import get_resolver  # inside: this module must not need Django at import

        get_resolver().url_patterns  # noqa: B018 - imports every view, as the first request would
    with _lock:
        gc.collect()
        gc.freeze()
        _enabled = True
    count = gc.get_freeze_count()
    logger.info("gc: %d long-lived objects frozen after start-up", count)
    return count


def refreeze() -> None:
    """After a rebuild of long-lived state: free what it replaced and freeze the new state."""
    if not _enabled:
        return
    with _lock:
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
    logger.info(
        "gc: refrozen %d objects (%d freed) in %.0f ms",
        gc.get_freeze_count(),
        freed,
        (time.perf_counter() - started) * 1000,
    )


def disable() -> None:
    """Back to ordinary collection (tests)."""
    global _enabled
    with _lock:
        _enabled = False
        gc.unfreeze()
