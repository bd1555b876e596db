"""The job state machine: one table says which transitions exist, services enforce it.

Kept free of Django imports so the scheduler, the reconciler and the tests can reason about states
without touching the database.
"""

from __future__ import annotations

import enum

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


class ControlAction(models.TextChoices):
    """What a user, a partner lab or an OPC UA client may ask of a job."""

    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    CANCEL = "cancel", "Cancel"


class DispatchResult(enum.StrEnum):
    """What one run of ``job_dispatch`` did (a str: tasks return it, logs show it)."""

    PRINTING = "printing"
    REQUEUED = "requeued"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRY = "retry"  # the printer could not be asked (unreachable, busy lock): the sweep runs it again
    SKIPPED = "skipped"  # nothing to do: the job moved on meanwhile


class ControlResult(enum.StrEnum):
    """What one run of ``job_control`` did."""

    SENT = "sent"
    CANCELLED = "cancelled"
    NOTHING_TO_DO = "nothing-to-do"
    REFUSED = "refused"
    RETRY = "retry"
    SKIPPED = "skipped"


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
# Being sent to a machine, not printing yet.
DISPATCH_STATES = frozenset({S.DISPATCHING, S.UPLOADED})
# Printing or paused on a printer we can reach.
PRINTING_OR_PAUSED_STATES = frozenset({S.PRINTING, S.PAUSED})
# Sent, being sent, or printing: what the fleet summary counts as running.
RUNNING_HERE_STATES = DISPATCH_STATES | {S.PRINTING}
# The printer has (or had, when it vanished) the job as its current one.
ON_PRINTER_STATES = frozenset({S.PRINTING, S.PAUSED, S.UNKNOWN})
# A cancel ends these at once (nothing runs on a machine of ours; a forwarded job was cancelled at the
# partner lab first).
CANCEL_AT_ONCE_STATES = QUEUE_STATES | {S.SUBMITTED, S.FORWARDED}
# The states in which each control action may be asked for (a machine's job gets a request).
CONTROL_REQUEST_STATES: dict[str, frozenset[str]] = {
    ControlAction.PAUSE: frozenset({S.PRINTING}),
    ControlAction.RESUME: frozenset({S.PAUSED}),
    ControlAction.CANCEL: ACTIVE_STATES,
}
# Every state a job can be cancelled in.
CANCELLABLE_STATES = CANCEL_AT_ONCE_STATES | ACTIVE_STATES


def in_declared_order(states: frozenset[str]) -> list[str]:
    """A state set as a list in ``JobState``'s order, so database conditions built from the sets above
    stay equal to the ones the migrations recorded (a set has no stable order)."""
    return [state for state in JobState.values if state in states]


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


# Badge colours (the classes of mes/static/mes/site.css, as for machine statuses).
STATE_COLOURS = {
    S.SUBMITTED: "secondary",
    S.AWAITING_APPROVAL: "secondary",
    S.QUEUED: "info",
    S.DISPATCHING: "primary",
    S.UPLOADED: "primary",
    S.PRINTING: "primary",
    S.PAUSED: "warning",
    S.UNKNOWN: "danger",
    S.COMPLETED: "success",
    S.FAILED: "danger",
    S.CANCELLED: "secondary",
}
