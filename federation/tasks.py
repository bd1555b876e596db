"""Periodic federation work; each task only calls a service."""

from __future__ import annotations

from federation.services.jobs import incoming_jobs_report_progress
from federation.services.nonces import nonce_cleanup
from federation.services.outbox import federation_deliver_due_events, federation_records_purge
from mes.engine import task


@task
def deliver_due_events() -> int:
    return federation_deliver_due_events()


@task
def clean_seen_nonces() -> int:
    return nonce_cleanup()


@task
def report_partner_job_progress() -> int:
    return incoming_jobs_report_progress()


@task
def purge_old_records() -> int:
    return sum(federation_records_purge())
