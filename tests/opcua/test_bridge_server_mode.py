"""Server mode: Lab MES serves the address space itself; lab clients read, and call back in."""

from __future__ import annotations

import asyncio
import math
import uuid

import pytest
from asgiref.sync import sync_to_async
from asyncua import ua

from opcua.health import check_opcua
from opcua.services import opcua_publish_machine, opcua_remove_machine
from opcua.signals import bed_cleared_requested, machine_control_requested
from tests.opcua.conftest import (
    Changes,
    Observer,
    RunningBridge,
    delivered,
    free_port,
    machine,
    print_sequence,
    run,
)

pytestmark = pytest.mark.django_db(transaction=True)

publish = sync_to_async(lambda snapshot: opcua_publish_machine(snapshot=snapshot))
OPERATOR, OPERATOR_PASSWORD = "robot-cell", "cell-secret"


@pytest.fixture
def server_mode(opcua_settings):
    port = free_port()
    opcua_settings.OPCUA_SERVE = f"opc.tcp://127.0.0.1:{port}"
    opcua_settings.OPCUA_USERNAME = OPERATOR
    opcua_settings.OPCUA_PASSWORD = OPERATOR_PASSWORD
    return opcua_settings.OPCUA_SERVE


@pytest.fixture
def received():
    calls: list[tuple[str, dict]] = []

    def on_bed_cleared(sender, **kwargs):
        calls.append(("bed_cleared", kwargs))

    def on_control(sender, **kwargs):
        calls.append(("control", kwargs))

    bed_cleared_requested.connect(on_bed_cleared, weak=False)
    machine_control_requested.connect(on_control, weak=False)
    yield calls
    bed_cleared_requested.disconnect(on_bed_cleared)
    machine_control_requested.disconnect(on_control)


def _clean(calls):
    return [(name, {k: v for k, v in kw.items() if k != "signal"}) for name, kw in calls]


def test_values_follow_a_print_and_survive_a_bridge_restart(server_mode):
    machine_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    base = f"Machines/{machine_id}"
    steps = print_sequence(machine_id, job_id)

    async def scenario():
        bridge = RunningBridge()
        await publish(steps[0])
        async with Observer(server_mode) as obs:  # anonymous: read and subscribe are allowed
            await obs.wait_for(f"{base}/Status", "idle")
            await delivered()
            assert math.isnan(await obs.read(f"{base}/Job/TimeLeft"))
            changes = Changes()
            sub = await obs.client.create_subscription(20, changes)
            await sub.subscribe_data_change(obs.node(f"{base}/Job/State"), queuesize=20)
            for step in steps[1:4]:
                await publish(step)
                await obs.wait_for(f"{base}/Job/Progress", step.job.progress)
            assert await obs.read(f"{base}/Job/Owner") == "alice"
            await publish(steps[4])
            await obs.wait_for(f"{base}/Job/State", "completed")
            health = await sync_to_async(check_opcua)()
        # Lab MES restarts its bridge while the machine changes: the new server has everything.
        await bridge.close()
        await publish(steps[5])
        bridge = RunningBridge()
        async with Observer(server_mode) as obs:
            await obs.wait_for(f"{base}/AwaitingBedClear", True)
            await delivered()
            final = (await obs.read(f"{base}/Status"), await obs.read(f"{base}/Job/Id"))
            name = (await obs.node(base).read_display_name()).Text
        await bridge.close()
        return changes.values, health, final, name

    values, health, final, name = run(scenario)
    assert values == ["", "printing", "completed"]
    assert health.ok and health.detail == f"serving on {server_mode}"
    assert final == ("awaiting_bed_clear", "")
    assert name == "Prusa 1"


def test_bed_cleared_method_needs_a_user_and_emits_the_signal(server_mode, received):
    machine_id = str(uuid.uuid4())
    base = f"Machines/{machine_id}"

    async def scenario():
        bridge = RunningBridge()
        await publish(machine(machine_id, status="awaiting_bed_clear", awaiting_bed_clear=True))
        async with Observer(server_mode) as anon:
            await anon.wait_for(f"{base}/AwaitingBedClear", True)
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await anon.node(base).call_method(f"{anon.ns}:BedCleared")
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await anon.node(f"{base}/AwaitingBedClear").write_value(False)
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await anon.node(f"{base}/Status").write_value("idle")
            assert await anon.read(f"{base}/AwaitingBedClear") is True
        assert received == []
        async with Observer(server_mode, user=OPERATOR, password=OPERATOR_PASSWORD) as cell:
            await cell.node(base).call_method(f"{cell.ns}:BedCleared")
            # Users may write AwaitingBedClear only; everything else stays read-only.
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await cell.node(f"{base}/Status").write_value("idle")
            with pytest.raises(ua.uaerrors.BadNotSupported):
                await cell.node(base).call_method(f"{cell.ns}:Pause")
            with pytest.raises(ua.uaerrors.BadNodeIdUnknown):
                await cell.client.get_node(
                    ua.NodeId(f"LabMES.Machines.{uuid.uuid4()}.BedCleared", cell.ns)
                ).read_browse_name()
        await bridge.close()

    run(scenario)
    assert _clean(received) == [("bed_cleared", {"machine_id": machine_id, "user": f"opcua:{OPERATOR}"})]


def test_writing_awaiting_bed_clear_false_counts_as_bed_cleared(server_mode, received):
    machine_id = str(uuid.uuid4())
    base = f"Machines/{machine_id}"
    waiting = machine(machine_id, status="awaiting_bed_clear", awaiting_bed_clear=True)

    def scheduler_frees_the_machine(sender, machine_id, user, **kwargs):
        # What the machines/jobs receiver does: the machine is free, and its new state is published.
        opcua_publish_machine(snapshot=machine(machine_id, status="idle", awaiting_bed_clear=False))

    async def scenario():
        bridge = RunningBridge()
        await publish(waiting)
        async with Observer(server_mode, user=OPERATOR, password=OPERATOR_PASSWORD) as cell:
            await cell.wait_for(f"{base}/AwaitingBedClear", True)
            # Without a receiver acting on it, Lab MES still believes the plate is there: true again.
            await cell.node(f"{base}/AwaitingBedClear").write_value(False)
            await cell.wait_for(f"{base}/AwaitingBedClear", True)
            bed_cleared_requested.connect(scheduler_frees_the_machine, weak=False)
            try:
                await cell.node(f"{base}/AwaitingBedClear").write_value(False)
                await cell.wait_for(f"{base}/Status", "idle")
                await asyncio.sleep(0.3)
                stays = await cell.read(f"{base}/AwaitingBedClear")
            finally:
                bed_cleared_requested.disconnect(scheduler_frees_the_machine)
        await bridge.close()
        return stays

    assert run(scenario) is False
    assert [name for name, _ in received] == ["bed_cleared", "bed_cleared"]
    assert all(kw["user"] == f"opcua:{OPERATOR}" for _, kw in received)


def test_control_methods_emit_only_when_enabled(server_mode, opcua_settings, received):
    opcua_settings.OPCUA_ALLOW_CONTROL = True
    machine_id = str(uuid.uuid4())

    async def scenario():
        bridge = RunningBridge()
        await publish(machine(machine_id, status="printing"))
        async with Observer(server_mode, user=OPERATOR, password=OPERATOR_PASSWORD) as cell:
            await cell.wait_for(f"Machines/{machine_id}/Status", "printing")
            for method in ("Pause", "Resume", "Cancel"):
                await cell.node(f"Machines/{machine_id}").call_method(f"{cell.ns}:{method}")
        await bridge.close()

    run(scenario)
    assert [kw["action"] for _, kw in received] == ["pause", "resume", "cancel"]
    assert {kw["machine_id"] for _, kw in received} == {machine_id}


def test_wrong_password_is_refused(server_mode):
    async def scenario():
        bridge = RunningBridge()
        try:
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                async with Observer(server_mode, user=OPERATOR, password="guess"):
                    pass
        finally:
            await bridge.close()

    run(scenario)


def test_renamed_and_deleted_machines_update_the_address_space(server_mode):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        bridge = RunningBridge()
        await publish(machine(first, name="Prusa", status="idle"))
        await publish(machine(second, name="Prusa", status="printing"))
        async with Observer(server_mode) as obs:
            await obs.wait_for(f"Machines/{first}/Status", "idle")
            await obs.wait_for(f"Machines/{second}/Status", "printing")
            await publish(machine(first, name="Prusa XL"))
            for _ in range(50):
                if (await obs.node(f"Machines/{first}").read_display_name()).Text == "Prusa XL":
                    break
                await asyncio.sleep(0.1)
            renamed = (await obs.node(f"Machines/{first}").read_browse_name()).Name
            # Browsing by name finds the renamed machine (what a SCADA tag path does).
            path = [f"{obs.ns}:LabMES", f"{obs.ns}:Machines", f"{obs.ns}:Prusa XL"]
            found = await obs.client.nodes.objects.get_child(path)
            assert found.nodeid == obs.node(f"Machines/{first}").nodeid
            await sync_to_async(opcua_remove_machine)(machine_id=second)
            await obs.wait_gone(f"Machines/{second}")
            await obs.wait_gone(f"Machines/{second}/BedCleared")
        await bridge.close()
        return renamed

    assert run(scenario) == "Prusa XL"


def test_port_in_use_gives_one_clear_error(server_mode, caplog):
    async def scenario():
        port = int(server_mode.rsplit(":", 1)[1])
        blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
        bridge = RunningBridge()
        for _ in range(100):  # each attempt builds a fresh server (about a second here)
            health = await sync_to_async(check_opcua)()
            if health.extra["last_error"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.2)  # more attempts: still only one logged error
        alive = not bridge.task.done()
        health = await sync_to_async(check_opcua)()
        await bridge.close()
        blocker.close()
        return alive, health

    alive, health = run(scenario)
    errors = [r for r in caplog.records if r.name == "opcua.bridge" and r.levelname == "ERROR"]
    assert alive and len(errors) == 1
    assert health.detail.startswith(f"cannot serve on {server_mode}")
