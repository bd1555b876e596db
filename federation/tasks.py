"""Periodic federation work; each task only calls a service."""

from __future__ import annotations

from mes.engine import task


@task
def deliver_due_events() -> int:
    from federation.services.outbox import federation_deliver_due_events

    return federation_deliver_due_events()


@task
def clean_seen_nonces() -> int:
    from federation.services.nonces import nonce_cleanup

    return nonce_cleanup()


@task
def report_partner_job_progress() -> int:
    from federation.services.jobs import incoming_jobs_report_progress

    return incoming_jobs_report_progress()


@task
def purge_old_records() -> int:
    from federation.services.outbox import federation_records_purge

    return sum(federation_records_purge())
