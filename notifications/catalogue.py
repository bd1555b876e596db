"""Which events people can be notified about, the defaults, and how each reads."""

from __future__ import annotations

from dataclasses import dataclass

from events.types import EventType

T = EventType

# Events about one's own jobs (sent to the job's owner).
JOB_EVENTS = (
    T.JOB_ACCEPTED,
    T.JOB_REFUSED,
    T.JOB_APPROVED,
    T.JOB_STARTED,
    T.JOB_PAUSED,
    T.JOB_RESUMED,
    T.JOB_PROGRESS,
    T.JOB_FINISHED,
    T.JOB_FAILED,
    T.JOB_CANCELLED,
    T.JOB_AWAITING_BED_CLEAR,
    T.FEDERATION_FORWARDED,
    T.FEDERATION_RETURNED,
)
# Fleet events for staff: collected into the hourly digest e-mail (and listed in the app).
STAFF_EVENTS = (T.MACHINE_ERROR, T.SPOOL_LOW)
NOTIFIABLE = JOB_EVENTS + STAFF_EVENTS
# Without a saved preference: own job finished/failed/awaiting bed clear, in the app and by e-mail;
# staff get the machine-error digest.
DEFAULT_ON = frozenset({T.JOB_FINISHED, T.JOB_FAILED, T.JOB_AWAITING_BED_CLEAR})
DEFAULT_STAFF_ON = frozenset({T.MACHINE_ERROR})


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    url: str


def _job_url(event) -> str:
    return f"/jobs/{event.job_id}/" if event.job_id else "/jobs/"


def describe(event) -> Message:
    """The words a person reads (in the list and the e-mail) for one event."""
    data = event.payload or {}
    name = data.get("name") or data.get("file") or "your print"
    reason = data.get("reason") or ""
    machine = data.get("machine_name") or ""
    titles = {
        T.JOB_ACCEPTED: (f"{name} is in the queue", "It passed the pre-flight check."),
        T.JOB_REFUSED: (
            f"{data.get('file') or 'Your file'} was not accepted",
            "The pre-flight check found: " + "; ".join(data.get("reasons") or []),
        ),
        T.JOB_APPROVED: (f"{name} was approved", "Lab staff approved it; it waits for a printer."),
        T.JOB_STARTED: (f"{name} started printing", reason),
        T.JOB_PAUSED: (f"{name} is paused", reason),
        T.JOB_RESUMED: (f"{name} is printing again", reason),
        T.JOB_PROGRESS: (f"{name} is {data.get('milestone')} % done", ""),
        T.JOB_FINISHED: (f"{name} finished", "Your print is ready to collect."),
        T.JOB_FAILED: (
            f"{name} failed",
            f"Reason: {reason}" if reason else "The printer reported a failure.",
        ),
        T.JOB_CANCELLED: (f"{name} was cancelled", reason),
        T.JOB_AWAITING_BED_CLEAR: (
            f"Collect {name}" + (f" from {machine}" if machine else ""),
            "The print is over; take it off the bed and confirm the bed is clear so the next job can start.",
        ),
        T.FEDERATION_FORWARDED: (f"{name} was sent to a partner lab", reason),
        T.FEDERATION_RETURNED: (f"{name} came back from the partner lab", reason),
        T.MACHINE_ERROR: (
            f"{data.get('name') or 'A machine'}: {data.get('status_label') or 'error'}",
            "; ".join(data.get("errors") or []) or "The machine reports an error.",
        ),
        T.SPOOL_LOW: (f"Spool low on {data.get('machine_name') or 'a machine'}", data.get("detail") or ""),
    }
    title, body = titles.get(event.type, (event.type, ""))
    url = "/fleet/" if event.type in STAFF_EVENTS else _job_url(event)
    return Message(title=title, body=body, url=url)
