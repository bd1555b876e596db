"""Basic256Sha256 with certificates, on both ends: encrypted channels, anonymous still read-only."""

from __future__ import annotations

import socket
import uuid

import pytest
from asgiref.sync import sync_to_async
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua.bridge.client import CLIENT_APPLICATION_URI
from opcua.bridge.server import SERVER_APPLICATION_URI
from opcua.services import opcua_publish_machine
from opcua.signals import bed_cleared_requested
from tests.opcua.conftest import NS, Observer, RunningBridge, free_port, listening, machine, run

pytestmark = pytest.mark.django_db(transaction=True)

publish = sync_to_async(lambda snapshot: opcua_publish_machine(snapshot=snapshot))


async def make_certificate(tmp_path, name: str, uri: str, use) -> tuple[str, str]:
    key, cert = tmp_path / f"{name}-key.pem", tmp_path / f"{name}-cert.der"
    await setup_self_signed_certificate(key, cert, uri, socket.gethostname(), [use], {"commonName": name})
    return str(cert), str(key)


def test_server_mode_with_basic256sha256(opcua_settings, tmp_path):
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    machine_id = str(uuid.uuid4())
    calls = []

    async def scenario():
        cert, key = await make_certificate(
            tmp_path, "server", SERVER_APPLICATION_URI, ExtendedKeyUsageOID.SERVER_AUTH
        )
        lab_cert, lab_key = await make_certificate(
            tmp_path, "scada", "urn:example:scada", ExtendedKeyUsageOID.CLIENT_AUTH
        )
        opcua_settings.OPCUA_SERVE = url
        opcua_settings.OPCUA_SECURITY = "Basic256Sha256"
        opcua_settings.OPCUA_CERTIFICATE, opcua_settings.OPCUA_PRIVATE_KEY = cert, key
        opcua_settings.OPCUA_USERNAME, opcua_settings.OPCUA_PASSWORD = "cell", "cell-secret"
        bridge = RunningBridge()
        await publish(machine(machine_id, status="awaiting_bed_clear", awaiting_bed_clear=True))
        await listening(port)

        async def secured(user=None, password=None) -> Observer:
            obs = Observer(url, user=user, password=password)
            obs.client.application_uri = "urn:example:scada"
            await obs.client.set_security(SecurityPolicyBasic256Sha256, lab_cert, lab_key)
            return obs

        async with await secured() as anon:  # encrypted but anonymous: read-only
            await anon.wait_for(f"Machines/{machine_id}/AwaitingBedClear", True)
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await anon.node(f"Machines/{machine_id}").call_method(f"{anon.ns}:BedCleared")
        bed_cleared_requested.connect(
            lambda sender, **kw: calls.append(kw["user"]), weak=False, dispatch_uid="t"
        )
        try:
            async with await secured("cell", "cell-secret") as cell:
                await cell.node(f"Machines/{machine_id}").call_method(f"{cell.ns}:BedCleared")
        finally:
            bed_cleared_requested.disconnect(dispatch_uid="t")
        plain = Client(url, timeout=2)  # no security: there is no such endpoint
        with pytest.raises((ua.UaError, OSError, TimeoutError)):
            await plain.connect()
            await plain.get_namespace_index(NS)
        await bridge.close()

    run(scenario)
    assert calls == ["opcua:cell"]


def test_client_mode_with_basic256sha256(opcua_settings, tmp_path):
    """The bridge logs into a lab server that offers only Basic256Sha256 SignAndEncrypt."""
    from asyncua import Server

    from tests.opcua.conftest import (
        BRIDGE_PASSWORD,
        BRIDGE_USER,
        OBSERVER_PASSWORD,
        OBSERVER_USER,
        LabServerUsers,
    )

    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    machine_id = str(uuid.uuid4())

    async def scenario():
        lab_cert, lab_key = await make_certificate(
            tmp_path, "lab", "urn:example:lab-server", ExtendedKeyUsageOID.SERVER_AUTH
        )
        cert, key = await make_certificate(
            tmp_path, "labmes", CLIENT_APPLICATION_URI, ExtendedKeyUsageOID.CLIENT_AUTH
        )
        lab = Server(user_manager=LabServerUsers())
        await lab.init()
        await lab.set_application_uri("urn:example:lab-server")
        lab.set_endpoint(url)
        await lab.load_certificate(lab_cert)
        await lab.load_private_key(lab_key)
        lab.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        lab.set_identity_tokens([ua.UserNameIdentityToken])
        await lab.register_namespace(NS)
        await lab.start()
        opcua_settings.OPCUA_SERVER_URL = url
        opcua_settings.OPCUA_SECURITY = "Basic256Sha256"
        opcua_settings.OPCUA_CERTIFICATE, opcua_settings.OPCUA_PRIVATE_KEY = cert, key
        opcua_settings.OPCUA_USERNAME, opcua_settings.OPCUA_PASSWORD = BRIDGE_USER, BRIDGE_PASSWORD
        bridge = RunningBridge()
        await publish(machine(machine_id, status="printing"))
        obs = Observer(url, user=OBSERVER_USER, password=OBSERVER_PASSWORD)
        obs.client.application_uri = CLIENT_APPLICATION_URI
        await obs.client.set_security(SecurityPolicyBasic256Sha256, cert, key)
        async with obs:
            await obs.wait_for(f"Machines/{machine_id}/Status", "printing")
        await bridge.close()
        await lab.stop()

    run(scenario)
