"""Jobs that run at another place (a partner lab): what the pages show and how a cancel reaches it.

The jobs app never imports the app that forwarded a job; it asks through ``jobs.signals`` and the
receivers answer with ``RemoteRun`` values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from jobs import signals


@dataclass(frozen=True)
class RemoteRun:
    where: str  # e.g. "partner lab Lab B"
    state: str  # the other place's last reported state, e.g. "printing"
    progress: float | None = None
    detail: str = ""

    @property
    def state_label(self) -> str:
        return self.state.replace("_", " ").capitalize()


def remote_runs(*, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, RemoteRun]:
    """The jobs among ``job_ids`` that another place holds, with its last reported state."""
    if not job_ids:
        return {}
    found: dict[uuid.UUID, RemoteRun] = {}
    for _, answer in signals.job_remote_runs.send(sender=RemoteRun, job_ids=list(job_ids)):
        found.update(answer or {})
    return found


def remote_cancel(*, job_id: uuid.UUID, user=None, reason: str = "") -> bool:
    """Cancel the job where it runs elsewhere; True if some place held it (a refusal raises JobError)."""
    answers = signals.job_remote_cancel.send(sender=RemoteRun, job_id=job_id, user=user, reason=reason)
    return any(answer for _, answer in answers)
