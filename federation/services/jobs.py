"""Forwarded jobs on both sides, with an idempotent PUT and quotas.

Integration with the jobs app (which federation may import, never the other way round):

* Lab A calls ``job_forward(...)`` to send one of its jobs to a partner, and ``forwarded_job_cancel``.
  It listens to ``federation.signals.forwarded_job_updated`` to mirror the partner's state.
* Lab B: accepting a forwarded job submits it through ``jobs.services.job_submit`` as a normal job
  owned by the partner's service user (``IncomingJob.local_job_id`` links them). Federation listens
  to ``jobs.signals.job_state_changed`` (see ``federation.receivers``) and calls
  ``incoming_job_report`` which queues the signed status event. A cancel from the partner, or a stop
  with ``on_stop=cancel``, goes through ``jobs.services.job_request_cancel``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.utils import timezone

from federation.client import FederationError, response_reason, signed_request
from federation.jobs_gateway import (
    ActorKind,
    Job,
    JobConstraints,
    JobError,
    JobSpec,
    JobState,
    NotGcode,
    inspect_gcode,
    job_request_cancel,
    job_submit,
    job_transition,
)
from federation.models import FederationEvent, ForwardedJob, IncomingJob, Partner
from federation.selectors import shared_machines_for_partner
from federation.services.local_jobs import local_job_forwarded, local_job_settle
from federation.services.outbox import event_enqueue
from federation.signals import incoming_job_accepted, incoming_job_cancelled

logger = logging.getLogger(__name__)
# A partner's print-time estimate above a year is a mistake (and would not fit the column).
MAX_ESTIMATED_PRINT_SECONDS = 365 * 24 * 3600

MAX_NAME = 200


@dataclass(frozen=True)
class JobAnswer:
    status: int
    body: dict


class JobRequestConflict(Exception):
    """The same job id came with a different body."""


class QuotaExceeded(Exception):
    pass


def _answer_for(incoming: IncomingJob) -> dict:
    return {
        "origin_job_id": str(incoming.origin_job_id),
        "state": "pending_acceptance" if incoming.state == IncomingJob.State.PENDING else incoming.state,
        "sha256": incoming.sha256,
        "size": incoming.size,
    }


def _parse_job_body(data: dict) -> dict:
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.")
    errors = {}
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors["name"] = f"A job name of 1 to {MAX_NAME} characters is required."
    try:
        gcode = base64.b64decode(str(data.get("gcode_base64", "")), validate=True)
    except (binascii.Error, ValueError):
        gcode = b""
        errors["gcode_base64"] = "The G-code must be base64."
    if not gcode and "gcode_base64" not in errors:
        errors["gcode_base64"] = "The G-code is empty."
    sha256 = str(data.get("sha256", "")).lower()
    if gcode and hashlib.sha256(gcode).hexdigest() != sha256:
        errors["sha256"] = "sha256 does not match the G-code."
    constraints = data.get("constraints") or {}
    if not isinstance(constraints, dict):
        errors["constraints"] = "Constraints must be an object."
        constraints = {}
    constraint_error = _constraints_problem(constraints)
    if constraint_error:
        errors["constraints"] = constraint_error
    seconds = data.get("estimated_print_seconds")
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 0 <= seconds <= MAX_ESTIMATED_PRINT_SECONDS
    ):
        errors["estimated_print_seconds"] = (
            f"Must be a whole number of seconds from 0 to {MAX_ESTIMATED_PRINT_SECONDS} (a year)."
        )
    if errors:
        raise ValidationError(errors)
    return {
        "name": name.strip(),
        "gcode": gcode,
        "sha256": sha256,
        "constraints": constraints,
        "requester_ref": str(data.get("requester_ref") or "")[:200],
        "estimated_print_seconds": seconds,
    }


CONSTRAINT_KEYS = {"material", "nozzle_diameter", "tags", "machine_id"}


def _constraints_problem(constraints: dict) -> str:
    unknown = sorted(set(constraints) - CONSTRAINT_KEYS)
    if unknown:
        return f"Unknown constraints {unknown}; allowed: {sorted(CONSTRAINT_KEYS)}."
    if not isinstance(constraints.get("material", ""), str):
        return "material must be a string."
    nozzle = constraints.get("nozzle_diameter")
    if nozzle is not None:
        try:
            Decimal(str(nozzle))
        except InvalidOperation:
            return "nozzle_diameter must be a number."
    tags = constraints.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "tags must be a list of strings."
    return ""


def _check_machine(*, partner: Partner, machine_id) -> None:
    """A partner may only target a machine we share with it."""
    if machine_id and str(machine_id) not in {
        str(m.pk) for m in shared_machines_for_partner(partner=partner)
    }:
        raise ValidationError({"constraints": "machine_id is not one of the machines shared with you."})


def _our_estimate(gcode: bytes) -> int | None:
    """The print time the slicer wrote into the file, read by us (a partner's own figure is a claim)."""

    try:
        report = inspect_gcode(
            io.BytesIO(gcode), original_name="forwarded.gcode", forbidden_commands=frozenset()
        )
    except NotGcode:
        return None  # the job's own checks refuse it with the reason when it is accepted
    return report.metadata.get("estimated_time_s")


def _check_quota(*, partner: Partner, estimated_print_seconds: int | None, gcode: bytes) -> None:
    if partner.jobs_per_day is not None:
        since = timezone.now() - dt.timedelta(days=1)
        used = (
            partner.incoming_jobs.filter(created_at__gte=since)
            .exclude(state=IncomingJob.State.REJECTED)
            .count()
        )
        if used >= partner.jobs_per_day:
            raise QuotaExceeded(f"Quota exceeded: at most {partner.jobs_per_day} jobs per day.")
    if partner.max_print_hours is not None:
        ours = _our_estimate(gcode)
        if estimated_print_seconds is None and ours is None:
            raise ValidationError(
                {"estimated_print_seconds": "This lab limits print time; send an estimate."}
            )
        longest = max(seconds for seconds in (estimated_print_seconds, ours) if seconds is not None)
        if longest > float(partner.max_print_hours) * 3600:
            raise QuotaExceeded(
                f"Quota exceeded: jobs may take at most {partner.max_print_hours} hours; "
                f"this one takes {longest / 3600:.1f} h"
                + (" by its G-code's own estimate." if ours == longest else ".")
            )


def incoming_job_receive(
    *, partner: Partner, origin_job_id: uuid.UUID, raw_body: bytes, data: dict
) -> JobAnswer:
    """Lab B: the idempotent PUT. The same body gets the same answer; another body gets 409."""
    digest = hashlib.sha256(raw_body).hexdigest()
    existing = IncomingJob.objects.filter(partner=partner, origin_job_id=origin_job_id).first()
    if existing is not None:
        if existing.request_digest != digest:
            raise JobRequestConflict("This job id was already used with a different request body.")
        return JobAnswer(existing.response_status, existing.response_body)
    if IncomingJob.objects.filter(origin_job_id=origin_job_id).exclude(partner=partner).exists():
        raise JobRequestConflict("This job id is already in use here.")
    job = _parse_job_body(data)
    _check_machine(partner=partner, machine_id=job["constraints"].get("machine_id"))
    _check_quota(partner=partner, estimated_print_seconds=job["estimated_print_seconds"], gcode=job["gcode"])
    try:
        with transaction.atomic():
            incoming = IncomingJob(
                partner=partner,
                origin_job_id=origin_job_id,
                request_digest=digest,
                response_status=202,
                name=job["name"],
                sha256=job["sha256"],
                size=len(job["gcode"]),
                constraints=job["constraints"],
                requester_ref=job["requester_ref"],
                estimated_print_seconds=job["estimated_print_seconds"],
            )
            incoming.file.save(
                f"{partner.instance_id}/{origin_job_id}.gcode", ContentFile(job["gcode"]), save=False
            )
            incoming.response_body = _answer_for(incoming)
            incoming.save()
    except IntegrityError:
        # A concurrent identical PUT won the race: answer as it did.
        return incoming_job_receive(
            partner=partner, origin_job_id=origin_job_id, raw_body=raw_body, data=data
        )
    if partner.auto_accept:
        incoming_job_accept(incoming=incoming)
    return JobAnswer(incoming.response_status, incoming.response_body)


def _job_constraints(incoming: IncomingJob):

    data = incoming.constraints
    nozzle = data.get("nozzle_diameter")
    return JobConstraints(
        material=str(data.get("material") or ""),
        nozzle_diameter=Decimal(str(nozzle)) if nozzle not in (None, "") else None,
        tags=tuple(str(tag) for tag in data.get("tags") or ()),
        target_machine_id=str(data["machine_id"]) if data.get("machine_id") else None,
    )


def _local_job_submit(*, incoming: IncomingJob, by=None):
    """Queue the partner's job here as a normal job owned by the partner's service user. Also says
    whether a state change signal will report ``queued`` (the submission itself sends none)."""

    partner = incoming.partner
    with incoming.file.open("rb") as handle:
        upload = File(handle, name=f"{incoming.origin_job_id}.gcode")
        spec = JobSpec(
            file=upload,
            name=incoming.name,
            notes=f"Forwarded by partner lab {partner.name} (their reference: {incoming.requester_ref or '-'}).",
            constraints=_job_constraints(incoming),
        )
        job = job_submit(user=partner.user, spec=spec, actor_kind=ActorKind.PARTNER)
    if job.state == JobState.AWAITING_APPROVAL:  # accepting the forwarded job is the approval
        # The transition's job_state_changed signal reports ``queued`` to the partner.
        job = job_transition(
            job=job,
            to_state=JobState.QUEUED,
            actor_kind=ActorKind.PARTNER,
            actor=by,
            reason="accepted partner job",
        )
        return job, True
    return job, False


def incoming_job_accept(*, incoming: IncomingJob, by=None) -> IncomingJob:
    """Accept a forwarded job: it joins our queue as a normal job owned by the partner's user. If our
    job checks refuse it (no fitting machine, forbidden commands…) it is rejected with those reasons."""

    if incoming.state != IncomingJob.State.PENDING:
        raise ValidationError(f"Only pending jobs can be accepted (state: {incoming.state}).")
    if incoming.partner.is_stopped:
        raise ValidationError("Federation with this lab is stopped.")
    try:
        with transaction.atomic():
            job, signalled = _local_job_submit(incoming=incoming, by=by)
            incoming.state = IncomingJob.State.ACCEPTED
            incoming.local_job_id = job.pk
            incoming.decided_at = timezone.now()
            incoming.save(update_fields=["state", "local_job_id", "decided_at"])
            event_enqueue(
                partner=incoming.partner,
                type=FederationEvent.Type.ACCEPTED,
                job_ref=str(incoming.origin_job_id),
                payload={"detail": f"queued as {job.pk}"},
            )
            if job.state == JobState.QUEUED and not signalled:
                event_enqueue(
                    partner=incoming.partner,
                    type=FederationEvent.Type.QUEUED,
                    job_ref=str(incoming.origin_job_id),
                    payload={"progress": None, "detail": "in the queue"},
                )
    except JobError as exc:
        reasons = exc.extra.get("reasons") or []
        return incoming_job_reject(incoming=incoming, by=by, reason="; ".join([exc.message, *reasons]))
    transaction.on_commit(lambda: incoming_job_accepted.send(sender=IncomingJob, incoming_job=incoming))
    return incoming


def incoming_job_reject(*, incoming: IncomingJob, reason: str = "", by=None) -> IncomingJob:
    if incoming.state != IncomingJob.State.PENDING:
        raise ValidationError(f"Only pending jobs can be rejected (state: {incoming.state}).")
    with transaction.atomic():
        incoming.state = IncomingJob.State.REJECTED
        incoming.state_reason = reason[:300]
        incoming.decided_at = timezone.now()
        incoming.save(update_fields=["state", "state_reason", "decided_at"])
        event_enqueue(
            partner=incoming.partner,
            type=FederationEvent.Type.REJECTED,
            job_ref=str(incoming.origin_job_id),
            payload={"detail": reason},
        )
    return incoming


REPORTABLE = {
    "queued": FederationEvent.Type.QUEUED,
    "printing": FederationEvent.Type.PRINTING,
    "paused": FederationEvent.Type.PAUSED,
    "completed": FederationEvent.Type.COMPLETED,
    "failed": FederationEvent.Type.FAILED,
    "cancelled": FederationEvent.Type.CANCELLED,
}
TERMINAL = {
    "completed": IncomingJob.State.COMPLETED,
    "failed": IncomingJob.State.FAILED,
    "cancelled": IncomingJob.State.CANCELLED,
}


def incoming_job_report(
    *,
    local_job_id: uuid.UUID,
    state: str,
    progress: float | None = None,
    detail: str = "",
    printed_seconds: int = 0,
) -> FederationEvent | None:
    """Called by the jobs app when a partner's job changes state; queues the signed status event.
    Returns None when the job did not come from a partner."""
    if state not in REPORTABLE:
        raise ValidationError({"state": f"Cannot report {state!r}; one of {sorted(REPORTABLE)}."})
    incoming = IncomingJob.objects.select_related("partner").filter(local_job_id=local_job_id).first()
    if incoming is None:
        return None
    with transaction.atomic():
        if state in TERMINAL:
            incoming.state = TERMINAL[state]
            incoming.printed_seconds = max(printed_seconds, incoming.printed_seconds)
            incoming.save(update_fields=["state", "printed_seconds"])
        return event_enqueue(
            partner=incoming.partner,
            type=REPORTABLE[state],
            job_ref=str(incoming.origin_job_id),
            payload={"progress": progress, "detail": detail},
        )


def _local_job_cancel(incoming: IncomingJob, *, reason: str) -> None:

    job_request_cancel(job=incoming.local_job_id, reason=reason)


def incoming_jobs_cancelled(*, incoming_jobs: list[IncomingJob]) -> None:
    """Cancel the local jobs of these partner jobs (e.g. federation stopped with on_stop=cancel)."""

    for incoming in incoming_jobs:
        if incoming.local_job_id is not None:
            try:
                _local_job_cancel(incoming, reason="federation with the partner lab stopped")
            except JobError as exc:  # already over: nothing left to cancel
                logger.info("Partner job %s not cancelled: %s", incoming, exc.message)
        incoming_job_cancelled.send(sender=IncomingJob, incoming_job=incoming)


def incoming_job_cancel_requested(*, incoming: IncomingJob) -> IncomingJob:
    """Lab A cancelled its job. Pending ones end here; accepted ones go to the jobs app, which reports
    ``cancelled`` once the machine has stopped."""
    if (
        incoming.state in (IncomingJob.State.PENDING, IncomingJob.State.ACCEPTED)
        and incoming.local_job_id is None
    ):
        with transaction.atomic():
            incoming.state = IncomingJob.State.CANCELLED
            incoming.state_reason = "Cancelled by the partner."
            incoming.save(update_fields=["state", "state_reason"])
            event_enqueue(
                partner=incoming.partner,
                type=FederationEvent.Type.CANCELLED,
                job_ref=str(incoming.origin_job_id),
            )
        return incoming
    if incoming.state == IncomingJob.State.ACCEPTED:
        try:
            _local_job_cancel(incoming, reason="cancelled by the partner lab")
        except JobError as exc:
            raise JobRequestConflict(f"The job cannot be cancelled: {exc.message}") from exc
        incoming.refresh_from_db()
        return incoming
    raise JobRequestConflict(f"The job is {incoming.state}; there is nothing to cancel.")


# --- Lab A -----------------------------------------------------------------------------------------


def job_forward(
    *,
    partner: Partner,
    origin_job_id: uuid.UUID,
    name: str,
    gcode: bytes,
    owner_id: int | None = None,
    constraints: dict | None = None,
    requester_ref: str = "",
    estimated_print_seconds: int | None = None,
) -> ForwardedJob:
    """Send one of our jobs to a partner (signed, idempotent PUT). Jobs that reached us through
    federation are never forwarded onward to a third lab."""
    if IncomingJob.objects.filter(local_job_id=origin_job_id).exists() or (
        owner_id is not None and Partner.objects.filter(user_id=owner_id).exists()
    ):
        raise ValidationError("This job came from a partner lab; it cannot be forwarded to another lab.")
    if partner.is_stopped or partner.outbound_state != Partner.OutboundState.APPROVED:
        raise ValidationError(f"{partner} has not approved us (or federation is stopped).")
    if "jobs:submit" not in partner.outbound_scopes:
        raise ValidationError(f"{partner} did not grant us jobs:submit.")
    body = {
        "name": name,
        "gcode_base64": base64.b64encode(gcode).decode(),
        "sha256": hashlib.sha256(gcode).hexdigest(),
        "constraints": constraints or {},
        "requester_ref": requester_ref,
        "estimated_print_seconds": estimated_print_seconds,
    }
    url = f"{partner.api_base_url.rstrip('/')}/jobs/{origin_job_id}/"
    response = signed_request("PUT", url, json_body=body, idempotency_key=str(origin_job_id))
    if response.status_code not in (200, 201, 202):
        raise FederationError(f"{partner} refused the job: {response_reason(response)}")
    state = str(response.json().get("state", "pending_acceptance"))
    forwarded, _ = ForwardedJob.objects.get_or_create(
        origin_job_id=origin_job_id, defaults={"partner": partner, "remote_state": state}
    )
    return forwarded


def forwarded_job_cancel(*, forwarded: ForwardedJob) -> ForwardedJob:
    url = f"{forwarded.partner.api_base_url.rstrip('/')}/jobs/{forwarded.origin_job_id}/cancel/"
    response = signed_request("POST", url, json_body={})
    if response.status_code not in (200, 202):
        raise FederationError(f"{forwarded.partner} refused the cancel: {response_reason(response)}")
    return forwarded


def job_forward_local(
    *, job, partner: Partner, estimated_print_seconds: int | None = None, by=None
) -> ForwardedJob:
    """Forward one of our ``jobs.Job`` rows to a partner. The requester reference is opaque (a hash),
    so the partner never learns who the student is.

    The job leaves our queue first (``forwarded``), so our scheduler cannot print it as well; when the
    partner does not take it, it is back at the front of our queue. Forwarding again to the same
    partner repeats the idempotent request.
    """
    again = (
        job.state == JobState.FORWARDED
        and ForwardedJob.objects.filter(origin_job_id=job.pk, partner=partner).exists()
    )
    if job.state != JobState.QUEUED and not again:
        raise ValidationError(f"Only queued jobs can be forwarded; this one is {job.state}.")
    if not job.file:
        raise ValidationError("The job has no file to forward.")
    with job.file.open("rb") as handle:
        gcode = handle.read()
    constraints = {"material": job.material, "tags": list(job.tags or [])}
    if job.nozzle_diameter is not None:
        constraints["nozzle_diameter"] = str(job.nozzle_diameter)
    requester_ref = hashlib.sha256(f"{job.owner_id}:{partner.instance_id}".encode()).hexdigest()[:16]
    if not again:
        local_job_forwarded(job_id=job.pk, partner_name=partner.name, actor=by)
    try:
        return job_forward(
            partner=partner,
            origin_job_id=job.pk,
            name=job.name,
            gcode=gcode,
            owner_id=job.owner_id,
            constraints=constraints,
            requester_ref=requester_ref,
            estimated_print_seconds=estimated_print_seconds,
        )
    except (FederationError, ValidationError) as exc:
        if not again:
            reason = f"partner lab {partner.name} did not take it: {exc}"
            local_job_settle(job_id=job.pk, to_state=JobState.QUEUED, reason=reason[:500])
        raise


def incoming_jobs_report_progress(*, min_step: float = 5.0) -> int:
    """Send ``printing`` events with progress for partner jobs whose progress moved by ``min_step``
    points since the last event (the jobs app records progress without a signal). Returns how many."""

    accepted = IncomingJob.objects.select_related("partner").filter(
        state=IncomingJob.State.ACCEPTED, local_job_id__isnull=False, partner__stopped_at__isnull=True
    )
    by_job = {incoming.local_job_id: incoming for incoming in accepted}
    printing = Job.objects.filter(pk__in=list(by_job), state=JobState.PRINTING, progress__isnull=False)
    sent = 0
    for job_id, progress in printing.values_list("pk", "progress"):
        incoming = by_job[job_id]
        last = (
            FederationEvent.objects.filter(partner=incoming.partner, job_ref=str(incoming.origin_job_id))
            .order_by("-sequence")
            .first()
        )
        last_progress = (last.payload or {}).get("progress") if last and last.type == "printing" else None
        if isinstance(last_progress, int | float) and abs(progress - last_progress) < min_step:
            continue
        event_enqueue(
            partner=incoming.partner,
            type=FederationEvent.Type.PRINTING,
            job_ref=str(incoming.origin_job_id),
            payload={"progress": progress, "detail": ""},
        )
        sent += 1
    return sent
