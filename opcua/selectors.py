"""Reads of the outbox and the published state, for the bridge, health and admin."""

from __future__ import annotations

from opcua.addressing import machine_id_of
from opcua.models import BridgeStatus, OutboxEntry, PublishedValue


def outbox_pending(*, limit: int = 200) -> list[OutboxEntry]:
    return list(OutboxEntry.objects.filter(delivered_at__isnull=True).order_by("sequence")[:limit])


def outbox_pending_count() -> int:
    return OutboxEntry.objects.filter(delivered_at__isnull=True).count()


def published_machine_names() -> dict[str, str]:
    """UUID -> name of every machine currently published."""
    rows = PublishedValue.objects.filter(key__regex=r"^Machines/[^/]+$")
    return {machine_id_of(row.key): row.value for row in rows}


def published_values(*, prefix: str) -> dict[str, object]:
    """Published values of the variables below ``prefix`` (a machine key, or ``Queue``)."""
    rows = PublishedValue.objects.filter(key__startswith=prefix + "/")
    return {row.key: row.value for row in rows}


def pending_keys(*, prefix: str) -> set[str]:
    qs = OutboxEntry.objects.filter(delivered_at__isnull=True, key__startswith=prefix + "/")
    return set(qs.values_list("key", flat=True))


def bridge_status() -> BridgeStatus | None:
    return BridgeStatus.objects.filter(pk=BridgeStatus.SINGLETON_ID).first()
