"""Filament is deducted exactly once though the processes that settle a print's end are SIGKILLed
between "finished" and "deducted", on django-q (embedded) and on Celery + Redis + PostgreSQL.

The crash is injected at the entry of ``jobs.services.accounting.job_usage_settle`` — inside the
transaction that has just written the terminal state, before any gram is deducted (see
crash_inject/sitecustomize.py). The first kill hits the poller, whose reconciler sees the print end;
the second hits the worker, whose reconcile sweep sees the end again; the third attempt settles it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.fault_support import Stack, gcode
from tests.runtime.test_faults import any_stack, embedded_stack, prod_stack  # noqa: F401 - fixtures
from tests.waiting import wait_until

CRASH_DIR = Path(__file__).parent / "crash_inject"
IDLE = 100
SEED = """
from decimal import Decimal
from machines.models import MachineConfig
from materials.models import MaterialType
from materials.services import spool_create, spool_load
MaterialType.objects.create(name="PLA", density=Decimal("1.24"))
spool = spool_create(material="PLA", initial_grams=Decimal("1000"), label_id="FAULT-1")
spool_load(spool=spool, machine=MachineConfig.objects.get(name="sim-001"), tool=0)
print(spool.pk)
"""


def _crashes(directory: Path) -> list[str]:
    return [path.read_text() for path in sorted(directory.glob("crash-*"))]


def _restart_the_dead(stack: Stack) -> list[str]:
    dead = [name for name, process in stack.processes.items() if process.poll() is not None]
    for name in dead:
        stack.restart(name)
    return dead


@pytest.mark.slow
def test_a_print_is_deducted_once_when_the_poller_and_the_worker_die_settling_it(any_stack, tmp_path):  # noqa: F811
    stack: Stack = any_stack
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    stack.env.update(
        PYTHONPATH=f"{CRASH_DIR}{':' + stack.env['PYTHONPATH'] if stack.env.get('PYTHONPATH') else ''}",
        MES_TEST_CRASH_AT="jobs.services.accounting:job_usage_settle",
        MES_TEST_CRASH_DIR=str(crashes),
        MES_TEST_CRASH_TIMES="2",
        # The worker's sweep, not a poll, must find the end after the poller's crash: every 3 s instead
        # of every 30 s, so the test does not wait a production interval for it.
        PERIODIC_INTERVALS="jobs.reconcile-sweep=3",
    )
    stack.setup()
    stack.start_simulator(1, speed=40)
    spool_id = int(stack.shell(SEED).strip())
    stack.start_web()
    stack.start_poller()
    stack.start_worker()
    stack.start_beat()
    wait_until(
        lambda: stack.machines()["sim-001"]["live"]["status"]["code"] == IDLE,
        timeout=60,
        message="sim-001 idle",
    )
    job_id = stack.submit("bracket", gcode(seconds=60))  # PLA, "; filament used [g] = 3.70"

    def settle() -> bool:
        _restart_the_dead(stack)
        return stack.job_states().get(job_id) == "completed"

    wait_until(
        lambda: len(_crashes(crashes)) >= 1, timeout=90, message=lambda: f"the first crash\n{stack.logs()}"
    )
    # Killed inside the transaction: the end was not committed, nothing deducted.
    assert stack.query("SELECT count(*) FROM materials_spooldeduction") == [(0,)]
    wait_until(
        settle,
        timeout=180,
        interval=0.5,
        message=lambda: f"the job completed after the crashes\n{stack.logs()}",
    )

    roles = [line.split()[0] for line in _crashes(crashes)]
    assert roles == ["poller", "worker"], roles  # the reconciler first, then the worker's sweep
    rows = stack.query("SELECT job_id, tool, grams, spool_id FROM materials_spooldeduction")
    assert len(rows) == 1, rows
    assert (str(rows[0][0]).replace("-", ""), rows[0][1], float(rows[0][2]), rows[0][3]) == (
        job_id.replace("-", ""),
        0,
        3.70,
        spool_id,
    )
    [(remaining,)] = stack.query("SELECT remaining_grams FROM materials_spool WHERE id = %s", (spool_id,))
    assert float(remaining) == pytest.approx(996.30)
    [(jobs, seconds)] = stack.query("SELECT jobs, print_seconds FROM maintenance_machinecounters")
    assert jobs == 1 and seconds > 0
