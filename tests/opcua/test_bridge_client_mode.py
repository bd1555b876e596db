"""Client mode: our bridge writes into an independent asyncua server standing in for the lab's."""

from __future__ import annotations

import asyncio
import math
import uuid

import pytest
from asgiref.sync import sync_to_async

from opcua.addressing import node_id_string
from opcua.health import check_opcua
from opcua.models import OutboxEntry, OutboxKind
from opcua.services import opcua_publish_machine, opcua_publish_queue, opcua_remove_machine
from opcua.snapshots import QueueSnapshot
from tests.opcua.conftest import (
    BRIDGE_PASSWORD,
    BRIDGE_USER,
    OBSERVER_PASSWORD,
    OBSERVER_USER,
    Changes,
    LabServer,
    Observer,
    RunningBridge,
    delivered,
    free_port,
    machine,
    print_sequence,
    run,
)
from tests.waiting import wait_until_async

pytestmark = pytest.mark.django_db(transaction=True)

publish = sync_to_async(lambda snapshot: opcua_publish_machine(snapshot=snapshot))


async def health_when(predicate, what: str):
    """The bridge's health once ``predicate`` holds for it: the bridge reports on its own schedule, which
    a loaded machine slows down, so the tests wait for the report instead of sleeping a fixed time."""

    async def reported():
        health = await sync_to_async(check_opcua)()
        return health if predicate(health) else None

    return await wait_until_async(reported, timeout=20, interval=0.1, message=what)


@pytest.fixture
def client_mode(opcua_settings):
    port = free_port()
    opcua_settings.OPCUA_SERVER_URL = f"opc.tcp://127.0.0.1:{port}"
    opcua_settings.OPCUA_USERNAME = BRIDGE_USER
    opcua_settings.OPCUA_PASSWORD = BRIDGE_PASSWORD
    return port


def test_values_follow_a_print_from_idle_to_awaiting_bed_clear(client_mode):
    machine_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    base = f"Machines/{machine_id}"

    async def scenario():
        lab = await LabServer(client_mode).start()
        bridge = RunningBridge()
        steps = print_sequence(machine_id, job_id)
        await publish(steps[0])
        async with Observer(lab.url, user=OBSERVER_USER, password=OBSERVER_PASSWORD) as obs:
            await obs.wait_for(f"{base}/Status", "idle")
            await delivered()
            assert await obs.read(f"{base}/Job/Id") == ""
            assert math.isnan(await obs.read(f"{base}/Job/Progress"))
            assert (await obs.node(base).read_display_name()).Text == "Prusa 1"
            changes = Changes()
            sub = await obs.client.create_subscription(20, changes)
            await sub.subscribe_data_change(obs.node(f"{base}/Job/State"), queuesize=20)
            for step in steps[1:4]:
                await publish(step)
                await obs.wait_for(f"{base}/Job/Progress", step.job.progress)
            assert await obs.read(f"{base}/Temperatures/Tool0/Actual") == 215.0
            assert await obs.read(f"{base}/Temperatures/Bed/Target") == 60.0
            units = await obs.node(f"{base}/Temperatures/Bed/Actual").get_child(["0:EngineeringUnits"])
            assert (await units.read_value()).DisplayName.Text == "°C"
            await publish(steps[4])
            await obs.wait_for(f"{base}/Job/State", "completed")
            await publish(steps[5])
            await obs.wait_for(f"{base}/AwaitingBedClear", True)
            await delivered()
            assert await obs.read(f"{base}/Status") == "awaiting_bed_clear"
            assert await obs.read(f"{base}/StatusCode") == 201
            assert await obs.read(f"{base}/Job/Id") == ""
            assert await obs.read(f"{base}/Job/File") == ""
            await obs.wait_for(f"{base}/Job/State", "")
            expected = ["", "printing", "completed", ""]

            async def all_changes_seen() -> bool:
                return changes.values == expected

            await wait_until_async(
                all_changes_seen,
                timeout=5,
                message=lambda: f"job state changes {expected}, saw {changes.values}",
            )
            await sync_to_async(opcua_publish_queue)(
                snapshot=QueueSnapshot(length=3, running=1, paused=False)
            )
            await obs.wait_for("Queue/Length", 3)
            assert await obs.read("Queue/Paused") is False
        status_writes = lab.written(node_id_string(f"{base}/Status"))
        await bridge.close()
        await lab.stop()
        return status_writes

    status_writes = run(scenario)
    # Changes only: one write per distinct status, although "printing" was published twice.
    assert status_writes == ["idle", "heating", "printing", "finishing", "awaiting_bed_clear"]


@pytest.mark.parametrize("outage", [3.0, pytest.param(60.0, marks=pytest.mark.slow)])
def test_changes_during_an_outage_all_arrive_after_the_server_returns(client_mode, outage):
    """The lab server is stopped while a print runs to completion, then restarted empty on the same
    port: after a short outage, and after the full minute the issue asks for."""
    machine_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    base = f"Machines/{machine_id}"
    steps = print_sequence(machine_id, job_id)

    async def scenario():
        lab = await LabServer(client_mode).start()
        bridge = RunningBridge()
        await publish(steps[0])
        async with Observer(lab.url, user=OBSERVER_USER, password=OBSERVER_PASSWORD) as obs:
            await obs.wait_for(f"{base}/Status", "idle")
            await delivered()  # everything before the outage reached the first server
        await lab.stop()
        for step in steps[1:]:
            await publish(step)
            await asyncio.sleep(0.2)
        during = await health_when(
            lambda h: not h.extra["connected"] and "cannot connect to" in h.detail, "the outage reported"
        )
        await asyncio.sleep(max(2.0, outage - 1.0 - 0.2 * len(steps[1:])))
        lab = await LabServer(client_mode).start()  # a fresh server: our folder is gone too
        async with Observer(lab.url, user=OBSERVER_USER, password=OBSERVER_PASSWORD) as obs:
            await obs.wait_for(f"{base}/AwaitingBedClear", True, timeout=10)
            await obs.wait_for(f"{base}/Job/State", "")
            final = {
                "Status": await obs.read(f"{base}/Status"),
                "Job/Id": await obs.read(f"{base}/Job/Id"),
                "Tool0": await obs.read(f"{base}/Temperatures/Tool0/Actual"),
                "Name": (await obs.node(base).read_browse_name()).Name,
            }
        # The values seen above are written; the outbox rows behind them are marked delivered just after.
        after = await health_when(lambda h: h.ok and h.extra["pending"] == 0, "the outbox drained")
        job_states = lab.written(node_id_string(f"{base}/Job/State"))
        await bridge.close()
        await lab.stop()
        return during, after, final, job_states

    during, after, final, job_states = run(scenario)
    assert during.ok is False
    assert during.extra["connected"] is False
    assert during.extra["pending"] > 0
    assert "cannot connect to" in during.detail
    assert final == {"Status": "awaiting_bed_clear", "Job/Id": "", "Tool0": 90.0, "Name": "Prusa 1"}
    # The completion was delivered, in order, although the job had been cleared before reconnecting.
    assert job_states == ["printing", "completed", ""]
    assert after.ok is True and after.extra["pending"] == 0
    events = OutboxEntry.objects.filter(kind=OutboxKind.EVENT, key=f"{base}/Job/State")
    assert [e.value for e in events] == ["", "printing", "completed", ""]  # first "" before the outage
    assert all(e.delivered_at is not None for e in events)


def test_renamed_and_deleted_machines_update_the_address_space(client_mode):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        lab = await LabServer(client_mode).start()
        bridge = RunningBridge()
        # Two machines with the same name never collide: node ids come from their UUIDs.
        await publish(machine(first, name="Prusa", status="idle"))
        await publish(machine(second, name="Prusa", status="printing"))
        async with Observer(lab.url, user=OBSERVER_USER, password=OBSERVER_PASSWORD) as obs:
            await obs.wait_for(f"Machines/{first}/Status", "idle")
            await obs.wait_for(f"Machines/{second}/Status", "printing")
            await publish(machine(first, name="Prusa XL", status="idle"))
            for _ in range(50):
                if (await obs.node(f"Machines/{first}").read_browse_name()).Name == "Prusa XL":
                    break
                await asyncio.sleep(0.1)
            renamed = (
                (await obs.node(f"Machines/{first}").read_browse_name()).Name,
                (await obs.node(f"Machines/{first}").read_display_name()).Text,
            )
            # Browsing by name finds the renamed machine (what a SCADA tag path does).
            path = [f"{obs.ns}:LabMES", f"{obs.ns}:Machines", f"{obs.ns}:Prusa XL"]
            found = await obs.client.nodes.objects.get_child(path)
            assert found.nodeid == obs.node(f"Machines/{first}").nodeid
            await sync_to_async(opcua_remove_machine)(machine_id=second)
            await obs.wait_gone(f"Machines/{second}")
            await obs.wait_gone(f"Machines/{second}/Job/State")
            still_there = await obs.read(f"Machines/{first}/Status")
        await bridge.close()
        await lab.stop()
        return renamed, still_there

    renamed, still_there = run(scenario)
    assert renamed == ("Prusa XL", "Prusa XL")
    assert still_there == "idle"


def test_bad_url_gives_one_clear_error_and_keeps_retrying(client_mode, caplog):
    # Nothing listens on the port: the bridge must neither crash nor log the same error per retry.
    async def scenario():
        bridge = RunningBridge()
        await health_when(lambda h: h.extra["last_error"], "the bridge's first connection error")
        await asyncio.sleep(1.2)  # more attempts: still only one logged error
        alive = not bridge.task.done()
        health = await sync_to_async(check_opcua)()
        await bridge.close()
        return alive, health

    alive, health = run(scenario)
    errors = [r for r in caplog.records if r.name == "opcua.bridge" and r.levelname == "ERROR"]
    assert alive
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert f"cannot connect to opc.tcp://127.0.0.1:{client_mode}" in errors[0].getMessage()
    assert health.ok is False
    assert health.detail.startswith(f"cannot connect to opc.tcp://127.0.0.1:{client_mode}")


def test_wrong_namespace_gives_one_clear_error(client_mode, caplog):
    async def scenario():
        lab = await LabServer(client_mode, namespace=None).start()
        bridge = RunningBridge()
        await publish(machine())
        await health_when(lambda h: h.extra["last_error"], "the bridge's namespace error")
        await asyncio.sleep(1.2)  # more attempts: still only one logged error
        alive = not bridge.task.done()
        health = await sync_to_async(check_opcua)()
        await bridge.close()
        await lab.stop()
        return alive, health

    alive, health = run(scenario)
    errors = [r for r in caplog.records if r.name == "opcua.bridge" and r.levelname == "ERROR"]
    assert alive
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "namespace 'urn:labmes:opcua' (OPCUA_NAMESPACE_URI) is not registered" in errors[0].getMessage()
    assert "urn:someone-else" in health.detail
    assert health.extra["pending"] > 0  # nothing was marked delivered


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (BRIDGE_USER, "wrong"),  # refused at login
        (OBSERVER_USER, OBSERVER_PASSWORD),  # logs in, but may not add our nodes: fails on every connect
    ],
)
def test_refused_login_or_rights_give_one_clear_error(client_mode, opcua_settings, caplog, user, password):
    opcua_settings.OPCUA_USERNAME, opcua_settings.OPCUA_PASSWORD = user, password

    async def scenario():
        lab = await LabServer(client_mode).start()
        bridge = RunningBridge()
        await health_when(lambda h: h.extra["last_error"], "the bridge's login or rights error")
        await asyncio.sleep(1.2)  # more attempts: still only one logged error
        health = await sync_to_async(check_opcua)()
        await bridge.close()
        await lab.stop()
        return health

    health = run(scenario)
    errors = [r for r in caplog.records if r.name == "opcua.bridge" and r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "BadUserAccessDenied" in health.detail
    assert health.ok is False


def test_lab_writing_awaiting_bed_clear_false_emits_bed_cleared(client_mode):
    from opcua.signals import bed_cleared_requested

    machine_id = str(uuid.uuid4())
    base = f"Machines/{machine_id}"
    calls = []

    def receiver(sender, machine_id, user, **kwargs):
        calls.append((machine_id, user))
        opcua_publish_machine(snapshot=machine(machine_id, status="idle", awaiting_bed_clear=False))

    async def scenario():
        lab = await LabServer(client_mode).start()
        bridge = RunningBridge()
        await publish(machine(machine_id, status="awaiting_bed_clear", awaiting_bed_clear=True))
        async with Observer(lab.url, user=OBSERVER_USER, password=OBSERVER_PASSWORD) as scada:
            await scada.wait_for(f"{base}/AwaitingBedClear", True)
            await asyncio.sleep(0.3)  # the bridge's subscription has seen "true"
            bed_cleared_requested.connect(receiver, weak=False)
            try:
                await scada.node(f"{base}/AwaitingBedClear").write_value(False)
                await scada.wait_for(f"{base}/Status", "idle")
            finally:
                bed_cleared_requested.disconnect(receiver)
            final = await scada.read(f"{base}/AwaitingBedClear")
        await bridge.close()
        await lab.stop()
        return final

    assert run(scenario) is False
    # The bridge's own writes (true, then false after the receiver) never count as a clear.
    assert calls == [(machine_id, f"opcua:{BRIDGE_USER}")]
