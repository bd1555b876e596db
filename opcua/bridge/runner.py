"""The bridge loop: (re)connect with backoff, sync the address space, drain the outbox in order.

Rows are marked delivered only after their write succeeded. Any failure ends the session; the
error is logged once per change of state (not once per retry) and shown in the health check, and
the bridge reconnects after 1 s, 2 s, 4 s ... up to OPCUA_BACKOFF_MAX.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from asgiref.sync import sync_to_async
from asyncua import Node, ua
from django.utils import timezone

from opcua import selectors, services
from opcua.addressing import machine_id_of, machine_key
from opcua.bridge.address_space import AddressSpace
from opcua.bridge.client import NamespaceMissing, connected_client
from opcua.bridge.server import ServerHooks, running_server
from opcua.conf import BridgeConfig
from opcua.models import OutboxEntry, OutboxKind
from opcua.signals import bed_cleared_requested, machine_control_requested

logger = logging.getLogger("opcua.bridge")

HEARTBEAT_EVERY = 5.0
STABLE_AFTER = 30.0  # a session that lasted this long counts as recovered
PROBE_EVERY = 1.0


def _db(func):
    return sync_to_async(func, thread_sensitive=True)


def _resync_values(machine_id: str) -> dict[str, object]:
    """Published values of a machine whose nodes were just created, minus those still in the outbox."""
    prefix = machine_key(machine_id)
    pending = selectors.pending_keys(prefix=prefix)
    return {k: v for k, v in selectors.published_values(prefix=prefix).items() if k not in pending}


def _published_value(key: str) -> object:
    prefix, _, _ = key.rpartition("/")
    return selectors.published_values(prefix=prefix).get(key)


def describe_error(config: BridgeConfig, exc: BaseException) -> str:
    url = config.endpoint
    if isinstance(exc, NamespaceMissing):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer from {url} within {config.timeout:g} s"
    if isinstance(exc, OSError):
        verb = "cannot serve on" if config.mode == "server" else "cannot connect to"
        return f"{verb} {url}: {exc.strerror or exc}"
    if isinstance(exc, ua.UaStatusCodeError):
        return f"{url} refused the request: {exc}"
    return f"{url}: {type(exc).__name__}: {exc}"


def error_category(exc: BaseException) -> str:
    if isinstance(exc, NamespaceMissing):
        return "namespace"
    if isinstance(exc, TimeoutError | OSError):
        return "unreachable"
    if isinstance(exc, ua.UaStatusCodeError):
        return f"refused:{exc.code}"
    return f"other:{type(exc).__name__}"


class Bridge:
    def __init__(self, config: BridgeConfig) -> None:
        config.validate()
        self.config = config
        self._names: dict[str, str] = {}
        self._last_error: str | None = None
        self._last_heartbeat = 0.0
        self._last_probe = 0.0
        self._watcher: BedClearWatcher | None = None
        self._aspace: AddressSpace | None = None
        self._delivered_in_session = False
        self._announce_connect = True

    # --- lifecycle -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        await _db(services.bridge_status_update)(
            mode=self.config.mode, endpoint=self.config.endpoint, connected=False
        )
        backoff = self.config.backoff_initial
        try:
            while not stop.is_set():
                started = time.monotonic()
                self._delivered_in_session = False
                try:
                    async with self._session() as (aspace, probe):
                        await self._sync_all(aspace)
                        await self._on_connected()
                        await self._pump(aspace, probe, stop)
                except Exception as exc:  # noqa: BLE001 - every failure means: report once, back off, retry
                    # Only a session that worked resets the backoff and the "already reported" state;
                    # one that fails right after connecting (a write the server always refuses) keeps
                    # backing off and is not logged again.
                    if self._delivered_in_session or time.monotonic() - started >= STABLE_AFTER:
                        backoff = self.config.backoff_initial
                        self._last_error = None
                    await self._on_error(exc)
                if stop.is_set():
                    break
                await self._sleep(stop, backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
        finally:
            await _db(services.bridge_status_update)(connected=False)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[AddressSpace, object]]:
        if self.config.mode == "client":
            async with connected_client(self.config) as (client, ns):
                watcher = BedClearWatcher(self)
                self._watcher = watcher
                aspace = self._address_space(client.nodes.objects, ns, client.get_node, hooks=None)
                self._aspace = aspace
                watcher.subscription = await client.create_subscription(100, watcher)

                async def probe() -> None:
                    await asyncio.wait_for(client.nodes.server_state.read_value(), self.config.timeout)
                    watcher.raise_failure()

                try:
                    yield aspace, probe
                finally:
                    self._watcher = None
        else:
            ns_ref = [0]
            hooks = ServerHooks(
                namespace_index_ref=ns_ref,
                on_method=self._on_method,
                on_bed_cleared=self._on_bed_cleared_write,
            )
            async with running_server(self.config, hooks) as (server, ns):
                self._aspace = self._address_space(server.nodes.objects, ns, server.get_node, hooks=hooks)
                yield self._aspace, None

    def _address_space(self, objects: Node, ns: int, get_node, hooks: ServerHooks | None) -> AddressSpace:
        aspace: AddressSpace

        async def on_machine_created(node: Node, machine_id: str) -> None:
            if hooks is not None:
                await hooks.add_methods(node, machine_id, aspace.method_node_id)
            for key, value in (await _db(_resync_values)(machine_id)).items():
                await aspace.write(key, value)
            if self._watcher is not None:
                await self._watcher.watch(aspace, machine_id)

        aspace = AddressSpace(
            objects=objects,
            namespace_index=ns,
            get_node=get_node,
            machine_name=lambda machine_id: self._names.get(machine_id),
            on_machine_created=on_machine_created,
            # The lab may clear a plate by writing false (server mode: users only; client mode: the
            # lab server's own access rules apply).
            writable_keys=lambda key: key.endswith("/AwaitingBedClear"),
        )
        return aspace

    async def _on_connected(self) -> None:
        if self._announce_connect:
            what = "serving OPC UA on" if self.config.mode == "server" else "connected to OPC UA server"
            logger.info("%s %s", what, self.config.endpoint)
            self._announce_connect = False
        await _db(services.bridge_status_update)(connected=True)

    async def _on_error(self, exc: BaseException) -> None:
        message = describe_error(self.config, exc)
        # Logged once per state change: "lost the connection" then "still refused" is one outage.
        category = error_category(exc)
        if category != self._last_error:
            self._announce_connect = True
            if isinstance(exc, OSError | TimeoutError | NamespaceMissing | ua.UaError | ConnectionError):
                logger.error("OPC UA bridge: %s (retrying with backoff)", message)
            else:
                logger.exception("OPC UA bridge: %s (retrying with backoff)", message)
            self._last_error = category
        await _db(services.bridge_status_update)(
            connected=False, last_error=message, last_error_at=timezone.now()
        )

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(remaining, HEARTBEAT_EVERY))
            except TimeoutError:
                await self._heartbeat()

    async def _heartbeat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_heartbeat >= HEARTBEAT_EVERY:
            self._last_heartbeat = now
            await _db(services.bridge_status_update)()

    # --- delivery --------------------------------------------------------------------------------
    async def _sync_all(self, aspace: AddressSpace) -> None:
        """After (re)connecting: recreate whatever the server lacks, with the current values."""
        self._names = await _db(selectors.published_machine_names)()
        await aspace.ensure("Machines")
        for machine_id in self._names:
            created = await aspace.ensure(machine_key(machine_id))
            if not created and self._watcher is not None:
                await self._watcher.watch(aspace, machine_id)
        queue = await _db(selectors.published_values)(prefix="Queue")
        pending = await _db(selectors.pending_keys)(prefix="Queue")
        for key, value in queue.items():
            if await aspace.ensure(key) and key not in pending:
                await aspace.write(key, value)

    async def _pump(self, aspace: AddressSpace, probe, stop: asyncio.Event) -> None:
        while not stop.is_set():
            rows = await _db(selectors.outbox_pending)(limit=200)
            if not rows:
                await self._heartbeat()
                if probe is not None and time.monotonic() - self._last_probe >= PROBE_EVERY:
                    self._last_probe = time.monotonic()
                    await probe()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.poll_interval)
                continue
            self._names = await _db(selectors.published_machine_names)()
            delivered: list[int] = []
            try:
                for row in rows:
                    await self._apply(aspace, row)
                    delivered.append(row.sequence)
            finally:
                if delivered:
                    self._delivered_in_session = True
                    await _db(services.outbox_mark_delivered)(sequences=delivered)
                    await _db(services.bridge_status_update)(last_delivery_at=timezone.now())
            if time.monotonic() - self._last_heartbeat >= HEARTBEAT_EVERY:
                await _db(services.outbox_prune)()
                await self._heartbeat(force=True)

    async def _apply(self, aspace: AddressSpace, row: OutboxEntry) -> None:
        machine_id = machine_id_of(row.key)
        if row.kind == OutboxKind.STRUCTURE:
            if (row.value or {}).get("removed"):
                await aspace.remove_machine(machine_id)
                if self._watcher is not None:
                    self._watcher.forget(machine_id)
            elif machine_id in self._names:
                await aspace.rename_machine(machine_id, row.value["name"])
            return
        if machine_id is not None and machine_id not in self._names:
            return  # the machine was deleted before this change could be delivered
        await aspace.write(row.key, row.value)

    # --- requests from the lab (server mode) -----------------------------------------------------
    async def _on_method(self, machine_id: str, method: str, user: str) -> ua.StatusCode:
        names = await _db(selectors.published_machine_names)()
        if machine_id not in names:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        if method == "BedCleared":
            ok = await _db(_send)(bed_cleared_requested, machine_id=machine_id, user=user)
        elif not self.config.allow_control:
            return ua.StatusCode(ua.StatusCodes.BadNotSupported)
        else:
            ok = await _db(_send)(
                machine_control_requested, machine_id=machine_id, action=method.lower(), user=user
            )
        logger.info("OPC UA %s on machine %s by %s", method, machine_id, user)
        return ua.StatusCode() if ok else ua.StatusCode(ua.StatusCodes.BadInternalError)

    async def on_external_bed_clear(self, key: str) -> None:
        """Client mode: someone else set our AwaitingBedClear to false on the lab's server."""
        if await _db(_published_value)(key) is not True:
            return  # Lab MES itself cleared it (or never set it): nothing to report
        user = f"opcua:{self.config.username or 'anonymous'}"
        await self._on_bed_cleared_write(machine_id_of(key), user)

    async def _on_bed_cleared_write(self, machine_id: str, user: str) -> None:
        names = await _db(selectors.published_machine_names)()
        if machine_id not in names:
            return
        logger.info("OPC UA write AwaitingBedClear=false on machine %s by %s", machine_id, user)
        await _db(_send)(bed_cleared_requested, machine_id=machine_id, user=user)
        # Lab MES stays the source of truth: show what it now believes (false once a receiver
        # cleared the machine and published it, true again otherwise).
        key = f"{machine_key(machine_id)}/AwaitingBedClear"
        await self._aspace.write(key, await _db(_published_value)(key))


class BedClearWatcher:
    """Client mode: a subscription on every machine's AwaitingBedClear on the lab's server.

    Only a true -> false transition seen by the subscription counts, and only while Lab MES still
    publishes true: the bridge's own writes (and a freshly created node's default) never trigger it.
    """

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.subscription = None
        self._keys: dict[str, str] = {}  # node id -> key
        self._last: dict[str, object] = {}
        self._watched: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._failure: BaseException | None = None

    async def watch(self, aspace: AddressSpace, machine_id: str) -> None:
        key = f"{machine_key(machine_id)}/AwaitingBedClear"
        if key in self._watched or self.subscription is None:
            return
        await aspace.ensure(key)
        node = aspace.node(key)
        self._keys[node.nodeid.to_string()] = key
        self._watched.add(key)
        await self.subscription.subscribe_data_change(node, queuesize=10)

    def forget(self, machine_id: str) -> None:
        key = f"{machine_key(machine_id)}/AwaitingBedClear"
        self._watched.discard(key)
        self._last.pop(key, None)

    def datachange_notification(self, node, val, data) -> None:
        key = self._keys.get(node.nodeid.to_string())
        if key is None:
            return
        previous = self._last.get(key)
        self._last[key] = val
        if previous is True and val is False:
            task = asyncio.get_running_loop().create_task(self.bridge.on_external_bed_clear(key))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    def raise_failure(self) -> None:
        """Surface a failed bed-clear report in the bridge loop (logged, health, reconnect)."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure


def _send(signal, **kwargs) -> bool:
    ok = True
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            ok = False
            logger.error("receiver %r failed on %s: %r", receiver, kwargs, result, exc_info=result)
    return ok
