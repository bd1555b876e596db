"""Server mode: Lab MES's own asyncua server, with read-only anonymous access.

Anonymous sessions may browse, read and subscribe. A session logged in with OPCUA_USERNAME /
OPCUA_PASSWORD may also write ``AwaitingBedClear`` and call the machine methods. Nobody gets the asyncua admin role over the
network, so the address space can only be changed by Lab MES itself.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from asyncua import Node, Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole

from opcua.addressing import MACHINE_METHODS, key_from_node_id_string, machine_id_of
from opcua.conf import BridgeConfig

logger = logging.getLogger(__name__)

# The user of the request being processed: asyncua hands method callbacks no session, but it checks
# permissions in the same task right before running them, so the ruleset records the user here.
current_user: contextvars.ContextVar[User | None] = contextvars.ContextVar("opcua_current_user", default=None)

# A Basic256Sha256 certificate must carry this URI (subjectAltName) in server mode.
SERVER_APPLICATION_URI = "urn:labmes:server"

_WRITE_OR_CALL = {
    ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary),
    ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary),
}
_CALL = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)


class LabUserManager:
    """Anonymous -> read-only; the configured account (constant-time compare) -> User role.

    A client certificate only secures the channel (asyncua accepts any certificate by default), so it
    never makes a session authenticated on its own.
    """

    def __init__(self, config: BridgeConfig) -> None:
        self._username = config.username
        self._password = config.password

    def get_user(self, iserver, username=None, password=None, certificate=None) -> User | None:
        if username is None:
            return User(role=UserRole.Anonymous, name=None)
        if not self._username:
            return None
        ok_user = hmac.compare_digest(username.encode(), self._username.encode())
        ok_password = hmac.compare_digest((password or "").encode(), self._password.encode())
        return User(role=UserRole.User, name=username) if ok_user and ok_password else None


class LabRuleset(PermissionRuleset):
    def __init__(self) -> None:
        user_ids = {ua.NodeId(type_id) for type_id in USER_TYPES}
        self._allowed = {
            UserRole.Admin: user_ids,
            UserRole.User: user_ids,
            UserRole.Anonymous: user_ids - _WRITE_OR_CALL,
        }

    def check_validity(self, user, action_type_id, body) -> bool:
        if action_type_id == _CALL:
            current_user.set(user)
        return action_type_id in self._allowed[user.role]


def user_label(user: User | None) -> str | None:
    if user is None or user.role == UserRole.Anonymous:
        return None
    return f"opcua:{user.name or 'user'}"


MethodHandler = Callable[[str, str, str], Awaitable[ua.StatusCode]]  # (machine_id, method, user)
BedClearedWriteHandler = Callable[[str, str], Awaitable[None]]  # (machine_id, user)


class ServerHooks:
    """Glue between asyncua callbacks and the bridge: methods on machine objects, user writes."""

    def __init__(
        self,
        *,
        namespace_index_ref: list[int],
        on_method: MethodHandler,
        on_bed_cleared: BedClearedWriteHandler,
    ) -> None:
        self._ns = namespace_index_ref
        self._on_method = on_method
        self._on_bed_cleared = on_bed_cleared

    async def add_methods(
        self, node: Node, machine_id: str, method_node_id: Callable[[str, str], ua.NodeId]
    ) -> None:
        for method in MACHINE_METHODS:
            await node.add_method(
                method_node_id(machine_id, method),
                ua.QualifiedName(method, self._ns[0]),
                self._make_method(method),
                [],
                [],
            )

    def _make_method(self, method: str):
        async def call(parent: ua.NodeId, *args) -> ua.StatusCode | list:
            user = user_label(current_user.get())
            if user is None:
                return ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
            key = (
                key_from_node_id_string(str(parent.Identifier))
                if parent.NamespaceIndex == self._ns[0]
                else None
            )
            machine_id = machine_id_of(key) if key else None
            if machine_id is None:
                return ua.StatusCode(ua.StatusCodes.BadNodeIdInvalid)
            status = await self._on_method(machine_id, method, user)
            return status if not status.is_good() else []

        return call

    async def post_write(self, event: ServerItemCallback, dispatcher) -> None:
        if not event.is_external:
            return
        user = user_label(event.user)
        for write, status in zip(event.request_params.NodesToWrite, event.response_params, strict=False):
            if not status.is_good() or write.NodeId.NamespaceIndex != self._ns[0]:
                continue
            key = key_from_node_id_string(str(write.NodeId.Identifier))
            if not key or not key.endswith("/AwaitingBedClear") or user is None:
                continue
            if write.Value.Value is not None and write.Value.Value.Value is False:
                await self._on_bed_cleared(machine_id_of(key), user)


@asynccontextmanager
async def running_server(config: BridgeConfig, hooks: ServerHooks) -> AsyncIterator[tuple[Server, int]]:
    server = Server(user_manager=LabUserManager(config))
    await server.init()
    await server.set_application_uri(SERVER_APPLICATION_URI)
    server.set_endpoint(config.serve)
    server.set_server_name("Lab MES")
    tokens: list[type] = [ua.AnonymousIdentityToken]
    if config.username:
        tokens.append(ua.UserNameIdentityToken)
    if config.security == "Basic256Sha256":
        await server.load_certificate(config.certificate)
        await server.load_private_key(config.private_key)
        policies = [
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ua.SecurityPolicyType.Basic256Sha256_Sign,
        ]
    else:
        policies = [ua.SecurityPolicyType.NoSecurity]
    server.set_identity_tokens(tokens)
    server.set_security_policy(policies, permission_ruleset=LabRuleset())
    ns = await server.register_namespace(config.namespace_uri)
    hooks._ns[0] = ns
    server.subscribe_server_callback(CallbackType.PostWrite, hooks.post_write)
    await server.start()
    try:
        yield server, ns
    finally:
        await server.stop()
