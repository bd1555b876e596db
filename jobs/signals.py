"""Signals the jobs app sends after commit, for the runtime (scheduler, drivers) to wire to.

- ``job_control_requested(job_id, machine_id, action)``: a user asked to pause/resume/cancel a job a machine
  is working on; the runtime forwards it to the driver. The request also stays on the job row
  (``requested_action``) so that a runtime that was down re-delivers it.
- ``job_state_changed(job_id, from_state, to_state, actor_kind)``: any transition.
- ``queue_changed(reason)``: the queue gained dispatchable work (job queued, queue started) — the
  scheduler's event trigger.
"""

from __future__ import annotations

from django.dispatch import Signal

job_control_requested = Signal()
job_state_changed = Signal()
queue_changed = Signal()

# Jobs that run somewhere else (another app, e.g. federation, forwarded them to a partner lab). Jobs
# never imports those apps: it asks through these signals (see jobs.remote).
# ``job_remote_runs(job_ids)``: receivers return {job_id: jobs.remote.RemoteRun} for the jobs they hold.
job_remote_runs = Signal()
# ``job_remote_cancel(job_id, user, reason)``: receivers that hold the job cancel it there and return
# True; they raise a JobError when the other place refuses.
job_remote_cancel = Signal()
