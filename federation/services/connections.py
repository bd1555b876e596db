"""Invitations, connection requests, approval and stopping."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from federation.client import (
    FederationError,
    fetch_well_known,
    response_reason,
    signed_request,
    well_known_url_for,
)
from federation.identity import base_url, local_instance
from federation.jobs_gateway import JobState
from federation.models import SCOPE_NAMES, FederationEvent, IncomingJob, Invitation, Partner
from federation.services.jobs import incoming_jobs_cancelled
from federation.services.local_jobs import FINISHED_REMOTE_STATES, local_job_settle
from federation.services.outbox import event_deliver, event_enqueue

logger = logging.getLogger(__name__)

INVITATION_PREFIX = "labmes-inv-"


class ConnectionRefused(Exception):
    """A connection request we refuse; ``status`` and the message go back to the requester."""

    def __init__(self, reason: str, *, status: int = 403, code: str = "connection_refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


def invitation_digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def scopes_validate(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPE_NAMES))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scopes {unknown}; choose from {SCOPE_NAMES}."})
    if not scopes:
        raise ValidationError({"scopes": f"Name at least one scope out of {SCOPE_NAMES}."})
    return [scope for scope in SCOPE_NAMES if scope in scopes]


def invitation_create(*, note: str = "", days: int = 7, created_by=None) -> tuple[Invitation, str]:
    """A single-use invitation; the code is returned once and only its digest is stored."""
    if not 1 <= days <= 90:
        raise ValidationError({"days": "An invitation expires after 1 to 90 days."})
    code = INVITATION_PREFIX + secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        code_digest=invitation_digest(code),
        note=note[:200],
        created_by=created_by,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    return invitation, code


def _partner_fields_from_document(document: dict) -> dict:
    return {
        "name": document["name"],
        "well_known_url": document["well_known_url"],
        "api_base_url": document["api_base_url"],
        "keys": document["keys"],
        "keys_fetched_at": timezone.now(),
    }


def partner_connect(*, partner_base_url: str, code: str, scopes: list[str], message: str = "") -> Partner:
    """Lab A's side: fetch B's discovery document and send B a signed connection request."""
    scopes = scopes_validate(scopes)
    url = well_known_url_for(partner_base_url)
    document = fetch_well_known(url)
    document["well_known_url"] = url
    if document["instance_id"] == str(local_instance().instance_id):
        raise FederationError("that URL is this lab itself")
    body = {
        "instance_id": str(local_instance().instance_id),
        "well_known_url": well_known_url_for(base_url()),
        "scopes": scopes,
        "message": message[:2000],
        "invitation": code.strip() or None,
    }
    response = signed_request("POST", document["connect_url"], json_body=body)
    if response.status_code not in (200, 201, 202):
        raise FederationError(
            f"{document['name']} refused the connection request: {response_reason(response)}"
        )
    with transaction.atomic():
        partner, created = Partner.objects.select_for_update().get_or_create(
            instance_id=document["instance_id"],
            defaults={**_partner_fields_from_document(document), "inbox_url": document["inbox_url"]},
        )
        if not created:
            for field, value in _partner_fields_from_document(document).items():
                setattr(partner, field, value)
            if not partner.inbox_url:
                partner.inbox_url = document["inbox_url"]
        partner.stopped_at = None
        partner.stopped_by = ""
        partner.stop_reason = ""
        partner.outbound_state = Partner.OutboundState.REQUESTED
        partner.outbound_requested_scopes = scopes
        partner.outbound_scopes = []
        partner.save()
    return partner


def invitation_check(*, code: str, lock: bool = False) -> Invitation:
    """The usable invitation for a code, or ConnectionRefused saying why not. Checked before we fetch
    anything from the requester, so strangers cannot make this lab call URLs of their choosing."""
    invitations = Invitation.objects.select_for_update() if lock else Invitation.objects
    invitation = invitations.filter(code_digest=invitation_digest(code)).first()
    if invitation is None:
        raise ConnectionRefused("The invitation code is not valid here.", code="invitation_invalid")
    if invitation.used_at is not None:
        raise ConnectionRefused("The invitation was already used.", code="invitation_used")
    if invitation.expires_at <= timezone.now():
        raise ConnectionRefused("The invitation has expired; ask for a new one.", code="invitation_expired")
    return invitation


def invitation_consume(*, code: str | None) -> Invitation | None:
    """Mark an invitation used (inside the caller's transaction); raises ConnectionRefused."""
    if not code:
        return None
    invitation = invitation_check(code=code, lock=True)
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    return invitation


def connection_request_receive(
    *, document: dict, scopes: list[str], message: str, invitation_code: str | None, discoverable: bool
) -> Partner:
    """Lab B's side: record a verified connection request as a pending partner."""
    scopes = scopes_validate(scopes)
    if not invitation_code and not discoverable:
        raise ConnectionRefused(
            "This lab accepts connection requests only with an invitation code.", code="invitation_required"
        )
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(instance_id=document["instance_id"]).first()
        if partner is not None and partner.is_stopped and not invitation_code:
            raise ConnectionRefused(
                "Federation with this lab was stopped; a new invitation is needed.", code="partner_stopped"
            )
        if partner is not None and partner.state == Partner.State.APPROVED and not partner.is_stopped:
            raise ConnectionRefused(
                "This lab is already connected; ask its staff to change the grant.",
                status=409,
                code="already_connected",
            )
        invitation = invitation_consume(code=invitation_code)
        fields = _partner_fields_from_document(document)
        if partner is None:
            partner = Partner(instance_id=document["instance_id"], **fields)
        else:
            for field, value in fields.items():
                setattr(partner, field, value)
        partner.inbox_url = document["inbox_url"]
        partner.state = Partner.State.PENDING
        partner.requested_scopes = scopes
        partner.scopes = []
        partner.message = message[:2000]
        partner.requested_at = timezone.now()
        partner.decided_at = None
        partner.decided_by = None
        partner.stopped_at = None
        partner.stopped_by = ""
        partner.stop_reason = ""
        partner.save()
        if invitation is not None:
            invitation.used_by = partner
            invitation.save(update_fields=["used_by"])
    logger.info("Connection request from %s (%s) for %s", partner.name, partner.instance_id, scopes)
    return partner


def _partner_user(partner: Partner):
    """The account a partner's jobs run under here. It is in the training-exempt group: the partner
    lab trains its own students, and staff approved the partnership."""
    if partner.user_id:
        user = partner.user
    else:
        user, _ = get_user_model().objects.get_or_create(
            username=f"partner-{partner.instance_id}",
            defaults={"first_name": partner.name[:150], "is_active": True},
        )
        user.set_unusable_password()
        user.save()
    group, _ = Group.objects.get_or_create(name=settings.POLICIES_TRAINING_EXEMPT_GROUP)
    user.groups.add(group)
    return user


def partner_quotas(partner: Partner) -> dict:
    return {
        "jobs_per_day": partner.jobs_per_day,
        "max_print_hours": str(partner.max_print_hours) if partner.max_print_hours is not None else None,
    }


def partner_approve(
    *,
    partner: Partner,
    scopes: list[str],
    by=None,
    jobs_per_day: int | None = None,
    max_print_hours: Decimal | None = None,
    share_all_machines: bool = False,
    shared_machines=(),
    shared_tags: list[str] | None = None,
    auto_accept: bool = False,
    on_stop: str = Partner.OnStop.FINISH,
) -> Partner:
    """Grant (a subset of) the requested scopes with quotas and tell the partner."""

    scopes = scopes_validate(scopes)
    if partner.is_stopped:
        raise ValidationError("Federation with this lab is stopped; it must send a new connection request.")
    if partner.state not in (Partner.State.PENDING, Partner.State.APPROVED):
        raise ValidationError(f"Only pending or approved partners can be approved (state: {partner.state}).")
    beyond = sorted(set(scopes) - set(partner.requested_scopes))
    if beyond:
        raise ValidationError({"scopes": f"The partner did not ask for {beyond}; approval can only narrow."})
    if on_stop not in Partner.OnStop.values:
        raise ValidationError({"on_stop": f"Choose one of {Partner.OnStop.values}."})
    if max_print_hours is not None:
        try:
            max_print_hours = Decimal(str(max_print_hours)).quantize(Decimal("0.01"))
        except ArithmeticError as exc:
            raise ValidationError({"max_print_hours": "Give hours as a number, e.g. 4.5."}) from exc
    with transaction.atomic():
        partner.user = _partner_user(partner)
        partner.state = Partner.State.APPROVED
        partner.scopes = scopes
        partner.jobs_per_day = jobs_per_day
        partner.max_print_hours = max_print_hours
        partner.share_all_machines = share_all_machines
        partner.shared_tags = list(shared_tags or [])
        partner.auto_accept = auto_accept
        partner.on_stop = on_stop
        partner.decided_at = timezone.now()
        partner.decided_by = by
        partner.full_clean(exclude=["user", "decided_by"])
        partner.save()
        partner.shared_machines.set(shared_machines)
        event_enqueue(
            partner=partner,
            type=FederationEvent.Type.CONNECTION_APPROVED,
            payload={"scopes": scopes, "quotas": partner_quotas(partner)},
        )
    return partner


def partner_reject(*, partner: Partner, by=None, reason: str = "") -> Partner:

    if partner.state != Partner.State.PENDING:
        raise ValidationError(f"Only pending requests can be rejected (state: {partner.state}).")
    with transaction.atomic():
        partner.state = Partner.State.REJECTED
        partner.scopes = []
        partner.decided_at = timezone.now()
        partner.decided_by = by
        partner.save()
        event_enqueue(
            partner=partner, type=FederationEvent.Type.CONNECTION_REJECTED, payload={"reason": reason}
        )
    return partner


def _stop_locally(*, partner: Partner, stopped_by: str, reason: str) -> list[IncomingJob]:
    """Mark stopped and settle the partner's jobs here; returns incoming jobs that were cancelled."""
    partner.stopped_at = timezone.now()
    partner.stopped_by = stopped_by
    partner.stop_reason = reason[:300]
    partner.save(update_fields=["stopped_at", "stopped_by", "stop_reason", "updated_at"])
    open_states = [IncomingJob.State.PENDING]
    if partner.on_stop == Partner.OnStop.CANCEL:
        open_states.append(IncomingJob.State.ACCEPTED)
    cancelled = list(partner.incoming_jobs.filter(state__in=open_states))
    for incoming in cancelled:
        incoming.state = IncomingJob.State.CANCELLED
        incoming.state_reason = "Federation stopped."
        incoming.decided_at = incoming.decided_at or timezone.now()
        incoming.save(update_fields=["state", "state_reason", "decided_at"])
    _settle_forwarded_jobs(partner=partner)
    return cancelled


def _settle_forwarded_jobs(*, partner: Partner) -> None:
    """Our jobs at the partner with no outcome yet fail here, saying so (it may still print them)."""

    for forwarded in partner.forwarded_jobs.exclude(remote_state__in=FINISHED_REMOTE_STATES):
        local_job_settle(
            job_id=forwarded.origin_job_id,
            to_state=JobState.FAILED,
            reason=(
                f"federation with {partner.name} stopped before it reported an outcome "
                f"(last state there: {forwarded.remote_state})"
            ),
        )


def partner_stop(*, partner: Partner, reason: str = "", notify: bool = True) -> tuple[Partner, str]:
    """Stop federation with a partner, at once and in both directions.

    With ``notify`` a signed notice is sent now; if the partner is unreachable the stop is local and
    the notice stays in the outbox for retries. Returns the partner and what happened to the notice.
    """

    if partner.is_stopped:
        raise ValidationError("Federation with this lab is already stopped.")
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        cancelled = _stop_locally(partner=partner, stopped_by="local", reason=reason)
        event = None
        if notify:
            event = event_enqueue(
                partner=partner, type=FederationEvent.Type.CONNECTION_STOPPED, payload={"reason": reason}
            )

    incoming_jobs_cancelled(incoming_jobs=cancelled)
    if event is None:
        return partner, "local only: the partner was not notified"
    if event_deliver(event=event):
        return partner, "the partner was notified"
    return partner, f"local only for now: notice not delivered ({event.last_error}); retrying from the outbox"


def partner_stopped_remotely(*, partner: Partner, reason: str) -> Partner:
    """The partner told us it stopped federation: from now on we refuse it too."""

    cancelled = _stop_locally(partner=partner, stopped_by="remote", reason=reason or "stopped by the partner")
    transaction.on_commit(lambda: incoming_jobs_cancelled(incoming_jobs=cancelled))
    return partner


KEY_REFRESH_INTERVAL = 60


def partner_refresh_keys(*, partner: Partner) -> Partner:
    """Re-read a partner's published keys (after it rotated), at most once a minute per partner."""
    from django.core.cache import cache

    if not cache.add(f"federation:key-refresh:{partner.pk}", 1, timeout=KEY_REFRESH_INTERVAL):
        return partner
    try:
        document = fetch_well_known(partner.well_known_url)
    except FederationError as exc:
        logger.warning("Could not refresh the keys of %s: %s", partner, exc)
        return partner
    if document["instance_id"] != str(partner.instance_id):
        logger.warning("%s now publishes another instance id; keys not changed", partner.well_known_url)
        return partner
    partner.keys = document["keys"]
    partner.keys_fetched_at = timezone.now()
    partner.save(update_fields=["keys", "keys_fetched_at", "updated_at"])
    return partner
