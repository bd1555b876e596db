"""The registry generation: one number every process compares to know when to reload.

Bumped on any change to machines, settings, drivers or plugin activation. The value is kept in the
database (durable) and mirrored in the shared cache (cheap to read). It is published to the cache only
after the transaction commits, so no process reloads before it can see the change.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from mes.cacheerrors import CACHE_UNAVAILABLE
from plugins.models import RegistryGeneration
from plugins.signals import registry_changed

logger = logging.getLogger(__name__)

CACHE_KEY = "registry:generation"


def generation_from_db() -> int:
    row = RegistryGeneration.objects.filter(pk=1).values_list("value", flat=True).first()
    return row or 0


def generation_current() -> int:
    """The shared generation: one cache read, falling back to the database after a cache flush or
    while the cache cannot be reached (the database holds the durable value)."""
    try:
        value = cache.get(CACHE_KEY)
    except CACHE_UNAVAILABLE as exc:
        logger.warning("registry generation read from the database: %s", exc)
        return generation_from_db()
    if value is None:
        value = generation_from_db()
        cache.add(CACHE_KEY, value)
    return int(value)


def generation_bump(*, reason: str = "") -> None:
    """Record that the registry inputs changed; every process reloads once this commits."""
    with transaction.atomic():
        updated = RegistryGeneration.objects.filter(pk=1).update(value=F("value") + 1)
        if not updated:
            RegistryGeneration.objects.get_or_create(pk=1, defaults={"value": 1})
    transaction.on_commit(_publish)
    registry_changed.send(sender=RegistryGeneration, reason=reason)


def _publish() -> None:
    cache.set(CACHE_KEY, generation_from_db(), timeout=None)
