"""What an ended job used: grams off its spools and hours onto its machine's counters, exactly once.

``job_transition`` calls this inside the transaction that writes the terminal state, so the end of a
job and its accounting commit together: a process killed in between leaves neither, and the
reconciler, seeing the end again, settles it then. The per-job ledgers (``SpoolDeduction``,
``MachineUsage``, unique per job) make a second call a no-op.
"""

from __future__ import annotations

from jobs.models import Job
from jobs.states import JobState
from maintenance.services import machine_usage_record
from materials.services import ToolUse, job_usage_deduct


def usage_fraction(job: Job) -> float:
    """The share of the need a job used: all of it when completed, else its progress."""
    if job.state == JobState.COMPLETED:
        return 1.0
    return min(max((job.progress or 0.0) / 100.0, 0.0), 1.0)


def job_usage_settle(*, job: Job) -> None:
    """Deduct filament and count usage for a job that has just ended on a machine (idempotent)."""
    if job.machine_id is None or job.started_at is None:
        return  # never printed: nothing used, nothing worn
    need = (job.metadata or {}).get("filament_need") or {}
    known = bool(need.get("known"))
    uses = [ToolUse(tool=t["tool"], grams=t["grams"] if known else None) for t in need.get("tools") or []]
    fraction = usage_fraction(job)
    rows = job_usage_deduct(
        job_id=job.pk,
        machine_id=job.machine_id,
        uses=uses or [ToolUse(tool=0, grams=None)],
        fraction=fraction,
        note=f"{job.state} at {fraction * 100:.0f} %",
    )
    seconds = (job.finished_at - job.started_at).total_seconds() if job.finished_at else 0.0
    machine_usage_record(
        job_id=job.pk,
        machine_id=job.machine_id,
        print_seconds=seconds,
        filament_grams=float(sum(row.grams for row in rows)),
        failed=job.state == JobState.FAILED,
    )
