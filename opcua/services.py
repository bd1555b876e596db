"""The publisher: turn snapshots into per-variable changes in the persistent outbox.

Callers hand over a snapshot on every poll; only variables whose value differs from the last
published one are queued. Pending values for the same variable are coalesced (latest wins) while
job life-cycle changes (``Job/Id``, ``Job/State``) are kept one by one, so a completion that
happened during an outage still reaches OPC UA.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from opcua.addressing import is_event_key, machine_key
from opcua.models import BridgeStatus, OutboxEntry, OutboxKind, PublishedValue
from opcua.snapshots import MachineSnapshot, QueueSnapshot, status_code_for, temperature_node_name

# LastSeen moves on every poll; it is republished only when it advanced this much (or Online changed).
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _number(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _machine_uuid(value: object) -> str:
    """Canonical UUID text: node ids are built from it, so "ABC..." and "abc..." must not differ."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"machine id {value!r} is not a UUID; OPC UA node ids are built from it") from None


def machine_values(snapshot: MachineSnapshot) -> dict[str, object]:
    """The JSON value of every variable of one machine (``None`` = cleared/unknown)."""
    base = machine_key(_machine_uuid(snapshot.id))
    code = snapshot.status_code if snapshot.status_code is not None else status_code_for(snapshot.status)
    values: dict[str, object] = {
        f"{base}/Status": str(snapshot.status),
        f"{base}/StatusCode": int(code),
        f"{base}/StatusText": snapshot.status_text,
        f"{base}/Online": bool(snapshot.online),
        f"{base}/LastSeen": _aware(snapshot.last_seen).isoformat() if snapshot.last_seen else None,
        f"{base}/AwaitingBedClear": bool(snapshot.awaiting_bed_clear),
    }
    for name, (actual, target) in snapshot.temperatures.items():
        node = temperature_node_name(name)
        values[f"{base}/Temperatures/{node}/Actual"] = _number(actual)
        values[f"{base}/Temperatures/{node}/Target"] = _number(target)
    job = snapshot.job
    values.update(
        {
            f"{base}/Job/Id": str(job.id) if job else "",
            f"{base}/Job/File": job.file if job else "",
            f"{base}/Job/Owner": job.owner if job else "",
            f"{base}/Job/State": job.state if job else "",
            f"{base}/Job/Progress": _number(job.progress) if job else None,
            f"{base}/Job/TimeUsed": _number(job.time_used) if job else None,
            f"{base}/Job/TimeLeft": _number(job.time_left) if job else None,
        }
    )
    return values


def _enqueue(*, key: str, value: object, kind: str) -> None:
    if kind != OutboxKind.EVENT:
        OutboxEntry.objects.filter(key=key, kind=kind, delivered_at__isnull=True).delete()
    OutboxEntry.objects.create(key=key, value=value, kind=kind)


def _last_seen_unchanged(old: object, new: object) -> bool:
    if old is None or new is None:
        return old == new
    delta = datetime.fromisoformat(str(new)) - datetime.fromisoformat(str(old))
    return timedelta(0) <= delta < LAST_SEEN_RESOLUTION


def _publish(*, values: dict[str, object], prefix: str, ignore_last_seen_jitter: bool) -> int:
    existing = {
        row.key: row
        for row in PublishedValue.objects.select_for_update().filter(key__startswith=prefix + "/")
    }
    online_key = f"{prefix}/Online"
    online_changed = online_key in values and (
        online_key not in existing or existing[online_key].value != values[online_key]
    )
    # Variables that disappeared from the snapshot (a tool removed) are cleared, not left stale.
    for key in existing.keys() - values.keys():
        if existing[key].value is not None:
            values[key] = None
    changed = 0
    for key, value in values.items():
        row = existing.get(key)
        if row is not None and row.value == value:
            continue
        if (
            ignore_last_seen_jitter
            and key.endswith("/LastSeen")
            and row is not None
            and not online_changed
            and _last_seen_unchanged(row.value, value)
        ):
            continue
        _enqueue(key=key, value=value, kind=OutboxKind.EVENT if is_event_key(key) else OutboxKind.VALUE)
        PublishedValue.objects.update_or_create(key=key, defaults={"value": value})
        changed += 1
    return changed


def opcua_publish_machine(*, snapshot: MachineSnapshot) -> int:
    """Queue what changed in this machine since the last call; returns the number of changes."""
    values = machine_values(snapshot)  # validates before anything is written
    if not snapshot.name:
        raise ValueError("a machine needs a name to appear in OPC UA")
    key = machine_key(_machine_uuid(snapshot.id))
    with transaction.atomic():
        changed = 0
        row = PublishedValue.objects.select_for_update().filter(key=key).first()
        if row is None or row.value != snapshot.name:
            _enqueue(key=key, value={"name": snapshot.name}, kind=OutboxKind.STRUCTURE)
            PublishedValue.objects.update_or_create(key=key, defaults={"value": snapshot.name})
            changed += 1
        changed += _publish(values=values, prefix=key, ignore_last_seen_jitter=True)
    return changed


def opcua_publish_queue(*, snapshot: QueueSnapshot) -> int:
    values = {
        "Queue/Length": int(snapshot.length),
        "Queue/Running": int(snapshot.running),
        "Queue/Paused": bool(snapshot.paused),
    }
    with transaction.atomic():
        return _publish(values=values, prefix="Queue", ignore_last_seen_jitter=False)


def opcua_remove_machine(*, machine_id: str) -> bool:
    """Remove a deleted machine's nodes; its undelivered changes go with it. False if never published."""
    key = machine_key(_machine_uuid(machine_id))
    with transaction.atomic():
        deleted, _ = PublishedValue.objects.filter(Q(key=key) | Q(key__startswith=key + "/")).delete()
        if not deleted:
            return False
        OutboxEntry.objects.filter(
            Q(key=key) | Q(key__startswith=key + "/"), delivered_at__isnull=True
        ).delete()
        OutboxEntry.objects.create(key=key, value={"removed": True}, kind=OutboxKind.STRUCTURE)
    return True


def outbox_mark_delivered(*, sequences: list[int]) -> None:
    if sequences:
        OutboxEntry.objects.filter(sequence__in=sequences).update(delivered_at=timezone.now())


def outbox_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delivered rows are kept a while for the admin, then dropped."""
    deleted, _ = OutboxEntry.objects.filter(delivered_at__lt=timezone.now() - older_than).delete()
    return deleted


def bridge_status_update(**fields: object) -> None:
    """Write the running bridge's state (connected, last_error, ...) to the singleton row."""
    fields.setdefault("heartbeat_at", timezone.now())
    updated = BridgeStatus.objects.filter(pk=BridgeStatus.SINGLETON_ID).update(**fields)
    if not updated:
        BridgeStatus.objects.get_or_create(pk=BridgeStatus.SINGLETON_ID, defaults=fields)
