"""Client mode: log into the lab's OPC UA server and write our nodes there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from opcua.conf import BridgeConfig

logger = logging.getLogger(__name__)


# A Basic256Sha256 certificate must carry this URI (subjectAltName) in client mode.
CLIENT_APPLICATION_URI = "urn:labmes:client"


class NamespaceMissing(RuntimeError):
    """The lab's server does not know our namespace URI; retrying will not help until it does."""


@asynccontextmanager
async def connected_client(config: BridgeConfig) -> AsyncIterator[tuple[Client, int]]:
    client = Client(config.server_url, timeout=config.timeout)
    client.application_uri = CLIENT_APPLICATION_URI
    client.name = client.description = "Lab MES OPC UA bridge"
    if config.username:
        client.set_user(config.username)
        client.set_password(config.password)
    if config.security == "Basic256Sha256":
        await asyncio.wait_for(
            client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=config.certificate,
                private_key=config.private_key,
                server_certificate=config.server_certificate or None,
                mode=ua.MessageSecurityMode.SignAndEncrypt,
            ),
            timeout=config.timeout * 2,
        )
    await asyncio.wait_for(client.connect(), timeout=config.timeout * 2)
    try:
        namespaces = await client.get_namespace_array()
        if config.namespace_uri not in namespaces:
            raise NamespaceMissing(
                f"namespace {config.namespace_uri!r} (OPCUA_NAMESPACE_URI) is not registered on "
                f"{config.server_url}; the server has: {', '.join(namespaces)}"
            )
        yield client, namespaces.index(config.namespace_uri)
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), timeout=config.timeout)
        except (OSError, TimeoutError, ua.UaError, ConnectionError) as exc:
            logger.debug("disconnect from %s after failure: %s", config.server_url, exc)
