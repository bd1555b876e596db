"""The inbox: applies what partners send, once and in order.

It sits above the outbox, connections and local jobs, and is the only federation service that
depends on them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from federation.models import FederationEvent, ForwardedJob, InboxRecord, Partner
from federation.services.connections import partner_stopped_remotely
from federation.services.local_jobs import local_job_partner_report
from federation.services.outbox import CONNECTION_TYPES, JOB_TYPES
from federation.signals import forwarded_job_updated


@dataclass(frozen=True)
class InboxResult:
    outcome: str  # "applied", "duplicate" or "stale"
    detail: str


def _validated_event(data: dict) -> dict:
    try:
        event = {
            "event_id": uuid.UUID(str(data["event_id"])),
            "type": str(data["type"]),
            "job_ref": str(data.get("job_ref") or ""),
            "sequence": int(data["sequence"]),
            "payload": data.get("payload") or {},
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"Malformed event: {exc}") from exc
    if event["type"] not in FederationEvent.Type.values:
        raise ValidationError({"type": f"Unknown event type {event['type']!r}."})
    if event["sequence"] < 1 or not isinstance(event["payload"], dict):
        raise ValidationError("An event needs a positive sequence and an object payload.")
    if event["type"] in JOB_TYPES and not event["job_ref"]:
        raise ValidationError({"job_ref": "Job events must name the job."})
    return event


def inbox_receive(*, partner: Partner, data: dict) -> InboxResult:
    """Apply an event from a partner once and in order; duplicates and stale events are dropped."""
    event = _validated_event(data)
    with transaction.atomic():
        Partner.objects.select_for_update().filter(pk=partner.pk).first()
        if InboxRecord.objects.filter(event_id=event["event_id"]).exists():
            return InboxResult("duplicate", "This event was received before; dropped.")
        last = (
            InboxRecord.objects.filter(partner=partner, job_ref=event["job_ref"]).aggregate(
                last=Max("sequence")
            )["last"]
            or 0
        )
        if event["sequence"] <= last:
            return InboxResult("stale", f"Sequence {event['sequence']} is not after {last}; dropped.")
        _apply(partner=partner, event=event)
        InboxRecord.objects.create(
            partner=partner,
            event_id=event["event_id"],
            job_ref=event["job_ref"],
            sequence=event["sequence"],
            type=event["type"],
        )
    return InboxResult("applied", f"{event['type']} applied.")


def _apply(*, partner: Partner, event: dict) -> None:
    kind, payload = event["type"], event["payload"]
    if kind == FederationEvent.Type.CONNECTION_STOPPED:
        partner_stopped_remotely(partner=partner, reason=str(payload.get("reason", "")))
        return
    if kind in CONNECTION_TYPES and partner.outbound_state not in (
        Partner.OutboundState.REQUESTED,
        Partner.OutboundState.APPROVED,
    ):
        raise ValidationError("We have no connection request open with this lab.")
    if kind == FederationEvent.Type.CONNECTION_APPROVED:
        scopes = payload.get("scopes")
        if not isinstance(scopes, list) or not set(scopes) <= set(partner.outbound_requested_scopes):
            raise ValidationError({"scopes": "Granted scopes must be a subset of the scopes we asked for."})
        partner.outbound_state = Partner.OutboundState.APPROVED
        partner.outbound_scopes = scopes
        partner.outbound_quotas = payload.get("quotas") or {}
        partner.save(update_fields=["outbound_state", "outbound_scopes", "outbound_quotas", "updated_at"])
        return
    if kind == FederationEvent.Type.CONNECTION_REJECTED:
        partner.outbound_state = Partner.OutboundState.REJECTED
        partner.outbound_scopes = []
        partner.save(update_fields=["outbound_state", "outbound_scopes", "updated_at"])
        return
    forwarded = ForwardedJob.objects.filter(
        partner=partner, origin_job_id=_uuid_or_none(event["job_ref"])
    ).first()
    if forwarded is None:
        raise ValidationError({"job_ref": "No job with this id was forwarded to you."})
    progress = payload.get("progress")
    forwarded.remote_state = kind
    if isinstance(progress, int | float) and 0 <= progress <= 100:
        forwarded.progress = float(progress)
    forwarded.last_sequence = event["sequence"]
    forwarded.history = [
        *forwarded.history,
        {
            "sequence": event["sequence"],
            "type": kind,
            "progress": forwarded.progress,
            "detail": str(payload.get("detail", ""))[:500],
            "received_at": timezone.now().isoformat(),
        },
    ]
    forwarded.save(update_fields=["remote_state", "progress", "last_sequence", "history", "updated_at"])
    local_job_partner_report(
        job_id=forwarded.origin_job_id,
        kind=kind,
        partner_name=partner.name,
        detail=str(payload.get("detail", ""))[:300],
    )
    transaction.on_commit(lambda: forwarded_job_updated.send(sender=ForwardedJob, forwarded_job=forwarded))


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
