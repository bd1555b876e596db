"""Consumers of the event stream: each gets every event exactly once.

A consumer is a function ``handle(event) -> None`` that only writes rows (a webhook delivery to
make, a notification to show, a counter to move). ``events_dispatch`` runs it inside the same
transaction that writes the consumer's ``Receipt`` for the event, so a crash before the commit
undoes both and the event is handled again, and the unique receipt stops a second handling. Slow
work (HTTP, SMTP) happens later, from the rows the handler wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Handler = Callable[..., None]


@dataclass(frozen=True)
class Consumer:
    name: str
    handle: Handler
    types: frozenset[str] | None = None  # None = every type


class ConsumerRegistry:
    def __init__(self) -> None:
        self._consumers: dict[str, Consumer] = {}

    def add(self, *, name: str, handle: Handler, types: set[str] | frozenset[str] | None = None) -> None:
        if len(name) > 32:
            raise ValueError(f"consumer name {name!r} is longer than 32 characters")
        existing = self._consumers.get(name)
        if existing is not None and existing.handle is not handle:
            raise ValueError(f"event consumer {name!r} is registered twice")
        self._consumers[name] = Consumer(name=name, handle=handle, types=frozenset(types) if types else None)

    def all(self) -> list[Consumer]:
        return sorted(self._consumers.values(), key=lambda c: c.name)

    def get(self, name: str) -> Consumer | None:
        return self._consumers.get(name)


def registry() -> ConsumerRegistry:
    from django.apps import apps

    return apps.get_app_config("events").consumers


def register_consumer(*, name: str, handle: Handler, types: set[str] | frozenset[str] | None = None) -> None:
    """Called from an AppConfig.ready() of an app above events."""
    registry().add(name=name, handle=handle, types=types)
