"""The shared wait helper: returns the first truthy value, and fails naming what it waited for."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import wait_until, wait_until_async


def test_returns_the_first_truthy_value():
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 3 and "ready", timeout=5, interval=0) == "ready"


def test_times_out_with_the_message_and_what_was_last_seen():
    seen = []
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for the pump; last 'off'"):
        wait_until(
            lambda: seen.append("off"),
            timeout=0.05,
            interval=0.01,
            message=lambda: f"the pump; last {seen[-1]!r}",
        )
    assert seen  # the predicate ran, also at the deadline


def test_async_form():
    counter = itertools.count()

    async def ready() -> bool:
        return next(counter) >= 2

    assert asyncio.run(wait_until_async(ready, timeout=5, interval=0)) is True
    with pytest.raises(AssertionError, match="waiting for never"):
        asyncio.run(wait_until_async(lambda: asyncio.sleep(0, result=False), timeout=0.01, message="never"))
