"""Listeners on other apps' signals (connected in FederationConfig.ready)."""

from __future__ import annotations

import logging

from federation.client import FederationError
from federation.identity import key_dir, local_instance, published_keys
from federation.jobs_gateway import Job, JobError, RemoteRun
from federation.models import ForwardedJob
from federation.services.jobs import REPORTABLE, forwarded_job_cancel, incoming_job_report
from federation.services.local_jobs import FINISHED_REMOTE_STATES

logger = logging.getLogger(__name__)


def job_state_changed(sender, *, job_id, to_state: str, **kwargs) -> None:
    """A job changed state here: if it belongs to a partner lab, queue the signed status event."""
    if to_state not in REPORTABLE:
        return

    job = Job.objects.filter(pk=job_id).only("progress", "started_at", "finished_at", "state_reason").first()
    if job is None:
        return
    printed = 0
    if job.started_at and job.finished_at:
        printed = int((job.finished_at - job.started_at).total_seconds())
    incoming_job_report(
        local_job_id=job_id,
        state=to_state,
        progress=job.progress,
        detail=job.state_reason,
        printed_seconds=printed,
    )


def job_remote_runs(sender, *, job_ids, **kwargs) -> dict:
    """The jobs app asks which of its jobs we forwarded: their partner lab's last reported state."""

    forwarded = ForwardedJob.objects.select_related("partner").filter(origin_job_id__in=job_ids)
    runs = {}
    for item in forwarded:
        last = item.history[-1] if item.history else {}
        runs[item.origin_job_id] = RemoteRun(
            where=f"partner lab {item.partner.name}",
            state=item.remote_state,
            progress=item.progress if item.remote_state in ("printing", "paused") else None,
            detail=str(last.get("detail") or "") if item.remote_state in FINISHED_REMOTE_STATES else "",
        )
    return runs


class PartnerRefusedCancel(JobError):
    status_code = 502


def job_remote_cancel(sender, *, job_id, **kwargs) -> bool:
    """A user cancels a job we forwarded: the signed cancel goes to the partner lab, which stops it on
    its machine. A refusal (or an unreachable partner) leaves our job unchanged."""
    forwarded = ForwardedJob.objects.select_related("partner").filter(origin_job_id=job_id).first()
    if forwarded is None or forwarded.remote_state in FINISHED_REMOTE_STATES:
        return False
    try:
        forwarded_job_cancel(forwarded=forwarded)
    except FederationError as exc:
        raise PartnerRefusedCancel(f"partner lab {forwarded.partner.name}: {exc}") from exc
    return True


def create_identity(sender, **kwargs) -> None:
    """The instance id and first signing key exist before web and workers start: two processes
    generating a first key at once would publish two, and only one private half would be kept."""
    instance = local_instance()
    [key, *_] = published_keys()
    logger.info("federation identity %s, signing key %s in %s", instance.instance_id, key.kid, key_dir())
