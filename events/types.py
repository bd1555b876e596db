"""The event catalogue: every domain event type Lab MES writes (docs/notifications.md lists them).

Types are ``<subject>.<what happened>``; the payload of each is versioned by ``Event.version`` so a
receiver can tell an old shape from a new one. Other apps add their own types (e.g. the materials
app's ``spool.low``) with ``register_type`` in their AppConfig.ready().
"""

from __future__ import annotations

from django.db import models


class EventType(models.TextChoices):
    JOB_SUBMITTED = "job.submitted", "Job submitted"
    JOB_ACCEPTED = "job.accepted", "Job accepted by the pre-flight check"
    JOB_REFUSED = "job.refused", "Job refused by the pre-flight check"
    JOB_APPROVED = "job.approved", "Job approved by staff"
    JOB_DISPATCHED = "job.dispatched", "Job dispatched to a machine"
    JOB_REQUEUED = "job.requeued", "Job back in the queue (the machine refused it)"
    JOB_STARTED = "job.started", "Job started printing"
    JOB_PAUSED = "job.paused", "Job paused"
    JOB_RESUMED = "job.resumed", "Job resumed"
    JOB_PROGRESS = "job.progress", "Job progress milestone (25/50/75 %)"
    JOB_LOST = "job.lost", "Job's machine stopped answering"
    JOB_FINISHED = "job.finished", "Job finished"
    JOB_FAILED = "job.failed", "Job failed"
    JOB_CANCELLED = "job.cancelled", "Job cancelled"
    JOB_AWAITING_BED_CLEAR = "job.awaiting_bed_clear", "Print over, the bed must be cleared"
    MACHINE_ONLINE = "machine.online", "Machine online"
    MACHINE_OFFLINE = "machine.offline", "Machine offline"
    MACHINE_ERROR = "machine.error", "Machine in error"
    MACHINE_MAINTENANCE = "machine.maintenance", "Machine taken out for maintenance"
    MACHINE_MAINTENANCE_ENDED = "machine.maintenance_ended", "Machine back from maintenance"
    FEDERATION_FORWARDED = "federation.forwarded", "Job forwarded to a partner lab"
    FEDERATION_RETURNED = "federation.returned", "Job returned from a partner lab"
    SPOOL_LOW = "spool.low", "Spool running low"


# Extra types registered at runtime by apps above this one: type -> label.
_EXTRA: dict[str, str] = {}


def register_type(event_type: str, label: str) -> None:
    """Declare a type an app emits (so filters and preferences can offer it)."""
    if "." not in event_type:
        raise ValueError(f"event type {event_type!r} must look like 'subject.what'")
    _EXTRA[event_type] = label


def all_types() -> dict[str, str]:
    """Every known type and its label, catalogue first."""
    return {**{value: str(label) for value, label in EventType.choices}, **_EXTRA}


def is_known(event_type: str) -> bool:
    return event_type in all_types()
