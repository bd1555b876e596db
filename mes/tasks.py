"""Project-wide housekeeping tasks."""

from __future__ import annotations

from django.utils import timezone

from mes.engine import task
from mes.models import Lease


@task
def lease_cleanup() -> int:
    """Drop long-expired database leases so the table stays small."""
    deleted, _ = Lease.objects.filter(expires_at__lt=timezone.now() - timezone.timedelta(hours=1)).delete()
    return deleted
