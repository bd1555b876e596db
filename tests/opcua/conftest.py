"""Real OPC UA on both ends: asyncua servers and clients on free local ports, in one event loop."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from asyncua import Client, Server, ua
from asyncua.common.callback import CallbackType
from asyncua.crypto.permission_rules import User, UserRole
from django.db import connections

from opcua.addressing import node_id_string
from opcua.bridge.runner import Bridge
from opcua.conf import get_config
from opcua.snapshots import JobSnapshot, MachineSnapshot
from tests.waiting import wait_until_async

NS = "urn:labmes:opcua"
BRIDGE_USER, BRIDGE_PASSWORD = "labmes", "bridge-secret"
OBSERVER_USER, OBSERVER_PASSWORD = "observer", "observer-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(coro_factory: Callable) -> object:
    """Run one async scenario; database work happens on asgiref's thread, closed afterwards."""

    async def main():
        try:
            return await coro_factory()
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(main())


async def listening(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on the port (our server may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            writer.close()
            return


async def delivered(timeout: float = 8.0) -> None:
    """Wait until the bridge has delivered every outbox row (so every node written so far exists)."""
    from opcua.selectors import outbox_pending_count

    async def drained() -> bool:
        return not await sync_to_async(outbox_pending_count)()

    await wait_until_async(drained, timeout=timeout, message="the outbox to be drained")


class LabServerUsers:
    """The 'lab's' server in client-mode tests: our bridge account may change the address space."""

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username == BRIDGE_USER and password == BRIDGE_PASSWORD:
            return User(role=UserRole.Admin, name=username)
        if username == OBSERVER_USER and password == OBSERVER_PASSWORD:
            return User(role=UserRole.User, name=username)
        return None


class LabServer:
    """An independent asyncua server standing in for the lab's SCADA server; records every write."""

    def __init__(self, port: int, *, namespace: str | None = NS) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}"
        self.namespace = namespace
        self.writes: list[tuple[str, object]] = []
        self.server: Server | None = None

    async def start(self) -> LabServer:
        server = Server(user_manager=LabServerUsers())
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.UserNameIdentityToken])
        await server.register_namespace(self.namespace or "urn:someone-else")
        server.subscribe_server_callback(CallbackType.PostWrite, self._record)
        await server.start()
        self.server = server
        return self

    async def _record(self, event, _dispatcher) -> None:
        if not event.is_external:
            return
        for write, status in zip(event.request_params.NodesToWrite, event.response_params, strict=False):
            if status.is_good() and write.AttributeId == ua.AttributeIds.Value:
                self.writes.append((str(write.NodeId.Identifier), write.Value.Value.Value))

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    def written(self, identifier: str) -> list[object]:
        return [value for node, value in self.writes if node == identifier]


class Observer:
    """An independent OPC UA client reading our nodes, as the lab's SCADA would."""

    def __init__(self, url: str, *, user: str | None = None, password: str | None = None) -> None:
        self.client = Client(url, timeout=4)
        if user:
            self.client.set_user(user)
            self.client.set_password(password)
        self.ns = 0

    async def __aenter__(self) -> Observer:
        deadline = time.monotonic() + 20
        while True:  # our own server may still be starting (slow on a busy machine)
            try:
                await self.client.connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self.ns = await self.client.get_namespace_index(NS)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.disconnect()

    def node(self, key: str):
        return self.client.get_node(ua.NodeId(node_id_string(key), self.ns))

    async def read(self, key: str) -> object:
        return await self.node(key).read_value()

    async def wait_for(self, key: str, expected: object, timeout: float = 8.0) -> object:
        last: list[object] = ["<missing>"]

        async def read_expected() -> bool:
            try:
                last[0] = await self.read(key)
            except ua.UaStatusCodeError as exc:
                last[0] = exc
            return last[0] == expected

        await wait_until_async(
            read_expected,
            timeout=timeout,
            interval=0.1,
            message=lambda: f"{key} to be {expected!r}, last read {last[0]!r}",
        )
        return last[0]

    async def wait_gone(self, key: str, timeout: float = 8.0) -> None:
        async def gone() -> bool:
            try:
                await self.node(key).read_browse_name()
            except ua.uaerrors.BadNodeIdUnknown:
                return True
            return False

        await wait_until_async(gone, timeout=timeout, interval=0.1, message=f"{key} to be removed")


class Changes:
    """Subscription handler collecting every data change, in order."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def datachange_notification(self, node, val, data) -> None:
        self.values.append(val)


class RunningBridge:
    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.bridge = Bridge(get_config())
        self.task = asyncio.create_task(self.bridge.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=10)


@pytest.fixture
def opcua_settings(settings):
    """Short timeouts and backoff so outages and retries take seconds in tests."""
    settings.OPCUA_SERVER_URL = ""
    settings.OPCUA_SERVE = ""
    settings.OPCUA_USERNAME = ""
    settings.OPCUA_PASSWORD = ""
    settings.OPCUA_SECURITY = "None"
    settings.OPCUA_NAMESPACE_URI = NS
    settings.OPCUA_ALLOW_CONTROL = False
    settings.OPCUA_BACKOFF_INITIAL = 0.1
    settings.OPCUA_BACKOFF_MAX = 0.4
    settings.OPCUA_POLL_INTERVAL = 0.05
    settings.OPCUA_TIMEOUT = 2.0
    return settings


def machine(machine_id: str | None = None, name: str = "Prusa 1", **fields) -> MachineSnapshot:
    defaults = {
        "status": "idle",
        "status_text": "Operational",
        "online": True,
        "last_seen": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        "temperatures": {"tool0": (21.5, 0.0), "bed": (20.0, 0.0)},
    }
    defaults.update(fields)
    return MachineSnapshot(id=machine_id or str(uuid.uuid4()), name=name, **defaults)


def print_sequence(machine_id: str, job_id: str) -> list[MachineSnapshot]:
    """A simulated print: idle -> heating -> printing with progress -> completed -> awaiting bed clear."""

    def job(state: str, progress: float, used: float, left: float | None) -> JobSnapshot:
        return JobSnapshot(job_id, "benchy.gcode", "alice", state, progress, used, left)

    hot = {"tool0": (215.0, 215.0), "bed": (60.0, 60.0)}
    return [
        machine(machine_id),
        machine(machine_id, status="heating", temperatures={"tool0": (150.0, 215.0), "bed": (45.0, 60.0)},
                job=job("printing", 0.0, 30.0, 600.0)),
        machine(machine_id, status="printing", temperatures=hot, job=job("printing", 25.0, 180.0, 540.0)),
        machine(machine_id, status="printing", temperatures=hot, job=job("printing", 80.0, 560.0, 140.0)),
        machine(machine_id, status="finishing", temperatures=hot, job=job("completed", 100.0, 700.0, 0.0)),
        machine(machine_id, status="awaiting_bed_clear", temperatures={"tool0": (90.0, 0.0), "bed": (50.0, 0.0)},
                awaiting_bed_clear=True, status_text="Plate waiting"),
    ]  # fmt: skip
