"""Signals other apps listen to (federation never imports their internals to notify them)."""

from django.dispatch import Signal

# Sent after a partner's status event changed a job we forwarded; kwargs: forwarded_job.
forwarded_job_updated = Signal()
# Sent when a partner's job here was accepted, or must be cancelled; kwargs: incoming_job.
incoming_job_accepted = Signal()
incoming_job_cancelled = Signal()
