"""The one way tests wait for something to happen: poll a condition, never sleep a fixed time.

A fixed ``time.sleep`` followed by an assert is either too long (a slow suite) or too short (a flaky
one on a loaded machine); ``wait_until`` returns as soon as the condition holds and, when it never
does, fails with a message saying what was awaited and what was last seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Message = str | Callable[[], str]


def _describe(message: Message, predicate: object) -> str:
    if callable(message):
        return message()
    return message or getattr(predicate, "__name__", repr(predicate))


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: Message = "",
) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    Raises ``AssertionError`` after ``timeout`` seconds naming ``message`` (text, or a callable called
    only on failure, e.g. to add the last state seen or a log tail). The predicate is always called
    at least once, and once more at the deadline, so a slow first call cannot fail a wait early.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {_describe(message, predicate)}")
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: Message = "",
) -> T:
    """``wait_until`` for a coroutine predicate, sleeping with ``asyncio.sleep`` between calls."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {_describe(message, predicate)}")
        await asyncio.sleep(interval)
