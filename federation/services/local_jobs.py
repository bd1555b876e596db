"""Lab A's own job while a partner lab prints it: it leaves our queue, and ends as the partner reports.

A forwarded job is ``forwarded`` here, so our scheduler never prints it too. The partner's events
settle it (completed, failed, cancelled; rejected brings it back to the front of our queue). When
federation stops before the partner reported an outcome, the job fails here with the reason: the
partner may still print it, so putting it back in our queue could print it twice.
"""

from __future__ import annotations

import logging
import uuid

from federation.jobs_gateway import ActorKind, JobError, JobState, job_transition

logger = logging.getLogger(__name__)

# Remote states after which there is nothing left to cancel, or to wait for, at the partner lab.
FINISHED_REMOTE_STATES = frozenset({"rejected", "completed", "failed", "cancelled"})
# The partner's report → our job's state.
SETTLED_BY = {
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "rejected": JobState.QUEUED,
}


def local_job_forwarded(*, job_id: uuid.UUID, partner_name: str, actor=None) -> None:
    """Take our job out of our queue before it is sent (a refusal there brings it back)."""
    job_transition(
        job=job_id,
        to_state=JobState.FORWARDED,
        actor_kind=ActorKind.USER if actor is not None else ActorKind.SYSTEM,
        actor=actor,
        reason=f"forwarded to partner lab {partner_name}",
        expected_states={JobState.QUEUED},
    )


def local_job_settle(*, job_id: uuid.UUID, to_state: str, reason: str) -> bool:
    """Move a forwarded job on; False when it already moved (e.g. cancelled here meanwhile)."""
    try:
        job_transition(
            job=job_id,
            to_state=to_state,
            actor_kind=ActorKind.PARTNER,
            reason=reason,
            expected_states={JobState.FORWARDED},
        )
    except JobError as exc:
        logger.info("forwarded job %s left as it is: %s", job_id, exc)
        return False
    return True


def local_job_partner_report(*, job_id: uuid.UUID, kind: str, partner_name: str, detail: str = "") -> bool:
    """Apply the partner's event to our job, when it is one that ends (or returns) it."""
    to_state = SETTLED_BY.get(kind)
    if to_state is None:
        return False
    what = "refused it" if kind == "rejected" else kind
    reason = f"partner lab {partner_name} {what}" + (f": {detail}" if detail else "")
    return local_job_settle(job_id=job_id, to_state=to_state, reason=reason)
