"""Task entry points. Thin: call a service."""

from __future__ import annotations

from maintenance.services import maintenance_sweep as sweep_service
from mes.engine import task


@task
def maintenance_sweep() -> int:
    """Periodic: machines whose plan is overdue and says so go into maintenance."""
    return sweep_service()
