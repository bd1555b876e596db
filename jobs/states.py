"""The job state machine: one table says which transitions exist, services enforce it.

Kept free of Django imports so the scheduler, the reconciler and the tests can reason about states
without touching the database.
"""

from __future__ import annotations

from django.db import models


class JobState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    QUEUED = "queued", "Queued"
    DISPATCHING = "dispatching", "Dispatching"
    UPLOADED = "uploaded", "Uploaded to printer"
    PRINTING = "printing", "Printing"
    PAUSED = "paused", "Paused"
    UNKNOWN = "unknown", "Unknown (machine lost)"
    FORWARDED = "forwarded", "Forwarded to a partner lab"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ActorKind(models.TextChoices):
    USER = "user", "User"
    SCHEDULER = "scheduler", "Scheduler"
    RECONCILER = "reconciler", "Reconciler"
    PARTNER = "partner", "Partner lab"
    SYSTEM = "system", "System"
    OPCUA = "opcua", "OPC UA client"


S = JobState

# from-state -> states it may move to. Anything else is refused with the reason.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.SUBMITTED: frozenset({S.AWAITING_APPROVAL, S.QUEUED, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.DISPATCHING, S.FORWARDED, S.CANCELLED}),
    # Printed elsewhere: it ends as the partner reports, or comes back to our queue when refused there.
    S.FORWARDED: frozenset({S.QUEUED, S.COMPLETED, S.FAILED, S.CANCELLED}),
    # Back to queued when the chosen printer turned out busy before anything was sent.
    S.DISPATCHING: frozenset({S.UPLOADED, S.PRINTING, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.UPLOADED: frozenset({S.PRINTING, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.PRINTING: frozenset({S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED, S.UNKNOWN}),
    S.PAUSED: frozenset({S.PRINTING, S.COMPLETED, S.FAILED, S.CANCELLED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.PRINTING, S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

# Jobs waiting in the farm-wide queue (they have a position).
QUEUE_STATES = frozenset({S.AWAITING_APPROVAL, S.QUEUED})
# Jobs a machine is working on (or was, when it vanished): the scheduler never gives that machine another.
ACTIVE_STATES = frozenset({S.DISPATCHING, S.UPLOADED, S.PRINTING, S.PAUSED, S.UNKNOWN})
# Jobs under way, here on a machine or at a partner lab: what the "running" lists show.
RUNNING_STATES = ACTIVE_STATES | {S.FORWARDED}
# Jobs that are over; they form the history.
TERMINAL_STATES = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})


def transition_refusal(from_state: str, to_state: str) -> str | None:
    """The reason a transition is illegal, or None when the table allows it."""
    if from_state not in TRANSITIONS:
        return f"unknown state {from_state!r}"
    if to_state not in TRANSITIONS:
        return f"unknown state {to_state!r}"
    allowed = TRANSITIONS[from_state]
    if to_state in allowed:
        return None
    if not allowed:
        return f"the job is {from_state} and finished jobs never change state"
    return f"a job that is {from_state} cannot become {to_state} (allowed: {', '.join(sorted(allowed))})"
