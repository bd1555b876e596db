"""The admin shows the outbox and the bridge status, read-only."""

from __future__ import annotations

import pytest

from opcua.models import OutboxEntry
from opcua.services import bridge_status_update, opcua_publish_machine
from tests.opcua.conftest import machine

pytestmark = pytest.mark.django_db


def test_outbox_and_status_are_visible_and_read_only(admin_client, opcua_settings):
    opcua_settings.OPCUA_SERVER_URL = "opc.tcp://scada.example:4840"
    opcua_publish_machine(snapshot=machine(name="Printer with a name"))
    bridge_status_update(
        mode="client", endpoint="opc.tcp://scada.example:4840", connected=False, last_error="boom"
    )

    outbox = admin_client.get("/admin/opcua/outboxentry/")
    assert outbox.status_code == 200
    assert b"Temperatures/Tool0/Actual" in outbox.content
    status = admin_client.get("/admin/opcua/bridgestatus/")
    assert status.status_code == 200
    assert b"FAILING: boom" in status.content
    entry = OutboxEntry.objects.first()
    assert admin_client.get(f"/admin/opcua/outboxentry/{entry.pk}/change/").status_code == 200
    assert admin_client.get("/admin/opcua/outboxentry/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/opcua/outboxentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert OutboxEntry.objects.filter(pk=entry.pk).exists()
