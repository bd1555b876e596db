"""The whole loop on real parts: a simulated printer prints a Lab MES job, OPC UA shows it, the lab's
robot cell calls BedCleared over OPC UA, and the scheduler dispatches the next job to that printer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from jobs.models import Job, JobEvent
from jobs.services.scheduler import schedule_run
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED
from tests.jobs.dispatch_support import farm, jobs_simulator, submit_job, tasks  # noqa: F401 - fixtures
from tests.jobs.test_reconciler import poll_until, printing_job
from tests.opcua.conftest import Observer, RunningBridge, free_port, run

pytestmark = pytest.mark.django_db(transaction=True)

CELL, CELL_PASSWORD = "robot-cell", "cell-secret"


def test_bed_cleared_over_opcua_frees_the_printer_for_the_next_job(farm, tasks, opcua_settings):  # noqa: F811
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    opcua_settings.OPCUA_SERVE = url
    opcua_settings.OPCUA_USERNAME, opcua_settings.OPCUA_PASSWORD = CELL, CELL_PASSWORD
    alice = get_user_model().objects.create_user("alice")
    config, job = printing_job(farm, alice, seconds=10)
    base = f"Machines/{config.pk}"

    async def scenario():
        bridge = RunningBridge()
        async with Observer(url, user=CELL, password=CELL_PASSWORD) as cell:
            await cell.wait_for(f"{base}/Job/Id", str(job.pk))
            assert await cell.read(f"{base}/Job/Owner") == "alice"
            await sync_to_async(poll_until)(farm, config, job, "completed")
            await sync_to_async(farm.poll)(config)
            await cell.wait_for(f"{base}/AwaitingBedClear", True)
            assert await cell.read(f"{base}/Job/State") == "completed"
            assert await cell.read(f"{base}/Status") == "awaiting_bed_clear"

            following = await sync_to_async(submit_job)(alice, name="next")
            assert await sync_to_async(schedule_run)() == []  # the plate is still on the bed
            await sync_to_async(farm.clear_bed)(config)  # the robot takes the plate…
            await cell.node(base).call_method(f"{cell.ns}:BedCleared")  # …and says so over OPC UA
            await cell.wait_for(f"{base}/AwaitingBedClear", False)

            await sync_to_async(tasks.drain)()  # the worker runs the scheduler the bed clear enqueued
            following = await sync_to_async(Job.objects.get)(pk=following.pk)
            for _ in range(100):  # polls until the printer reports the new job
                await sync_to_async(farm.poll)(config)
                await sync_to_async(tasks.drain)()
                try:
                    if await cell.read(f"{base}/Job/Id") == str(following.pk):
                        break
                except Exception:  # noqa: BLE001, S110 - node briefly rewritten; read again
                    pass
                await asyncio.sleep(0.1)
            shown = await cell.read(f"{base}/Job/Id")
        await bridge.close()
        return following, shown

    following, shown = run(scenario)
    following.refresh_from_db()
    assert following.machine_id == config.pk
    assert shown == str(following.pk)
    event = job.events.filter(kind=JobEvent.Kind.UPDATE).last()
    assert event.actor_kind == "opcua" and event.reason.endswith(f"by opcua:{CELL}")
    assert farm.machine(config).state.data[BED_CLEAR_REQUIRED] is False
