"""The publisher: only changes reach the outbox, latest value wins, job life-cycle events stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from opcua.checks import check_opcua_settings
from opcua.health import check_opcua
from opcua.models import OutboxEntry, OutboxKind, PublishedValue
from opcua.services import (
    bridge_status_update,
    opcua_publish_machine,
    opcua_publish_queue,
    opcua_remove_machine,
    outbox_mark_delivered,
)
from opcua.snapshots import JobSnapshot, QueueSnapshot
from tests.opcua.conftest import machine

pytestmark = pytest.mark.django_db


def pending() -> dict[str, list[object]]:
    rows: dict[str, list[object]] = {}
    for row in OutboxEntry.objects.filter(delivered_at__isnull=True).order_by("sequence"):
        rows.setdefault(row.key, []).append(row.value)
    return rows


def test_first_publish_queues_everything_then_only_changes(opcua_settings):
    snap = machine()
    base = f"Machines/{snap.id}"
    first = opcua_publish_machine(snapshot=snap)
    assert first == OutboxEntry.objects.count()
    assert pending()[base] == [{"name": "Prusa 1"}]
    assert pending()[f"{base}/Temperatures/Tool0/Actual"] == [21.5]
    assert pending()[f"{base}/Job/Id"] == [""]
    assert opcua_publish_machine(snapshot=snap) == 0  # polled again, nothing changed
    changed = machine(snap.id, status="heating", temperatures={"tool0": (30.0, 215.0), "bed": (20.0, 0.0)})
    assert opcua_publish_machine(snapshot=changed) == 4  # Status, StatusCode, Tool0 Actual and Target
    assert pending()[f"{base}/Status"] == ["heating"]  # the undelivered "idle" was superseded
    assert OutboxEntry.objects.count() == first


def test_pending_values_coalesce_but_job_events_never_do(opcua_settings):
    snap = machine()
    base = f"Machines/{snap.id}"
    opcua_publish_machine(snapshot=snap)
    outbox_mark_delivered(sequences=list(OutboxEntry.objects.values_list("sequence", flat=True)))
    job_id = str(uuid.uuid4())
    for state, progress in (("printing", 10.0), ("printing", 50.0), ("completed", 100.0)):
        job = JobSnapshot(job_id, "a.gcode", "bob", state, progress)
        opcua_publish_machine(snapshot=machine(snap.id, status="printing", job=job))
    opcua_publish_machine(snapshot=machine(snap.id, status="awaiting_bed_clear", awaiting_bed_clear=True))
    rows = pending()
    assert rows[f"{base}/Job/Progress"] == [None]  # latest wins: one pending row
    assert rows[f"{base}/Status"] == ["awaiting_bed_clear"]
    assert rows[f"{base}/Job/State"] == ["printing", "completed", ""]  # every life-cycle step kept
    assert rows[f"{base}/Job/Id"] == [job_id, ""]
    kinds = set(OutboxEntry.objects.filter(key=f"{base}/Job/State").values_list("kind", flat=True))
    assert kinds == {OutboxKind.EVENT}
    # Delivery order follows the latest change: the coalesced Status row comes after the events.
    order = list(OutboxEntry.objects.filter(delivered_at__isnull=True).values_list("key", flat=True))
    assert order.index(f"{base}/Status") > order.index(f"{base}/Job/State")


def test_published_state_survives_a_restart(opcua_settings):
    snap = machine()
    opcua_publish_machine(snapshot=snap)
    count = OutboxEntry.objects.count()
    # A new process knows nothing in memory; the published values live in the database.
    assert PublishedValue.objects.filter(key__startswith=f"Machines/{snap.id}").count() > 10
    assert opcua_publish_machine(snapshot=snap) == 0
    assert OutboxEntry.objects.count() == count


def test_last_seen_is_not_republished_on_every_poll(opcua_settings):
    seen = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    snap = machine(last_seen=seen)
    opcua_publish_machine(snapshot=snap)
    assert opcua_publish_machine(snapshot=machine(snap.id, last_seen=seen + timedelta(seconds=5))) == 0
    assert opcua_publish_machine(snapshot=machine(snap.id, last_seen=seen + timedelta(seconds=61))) == 1
    # Going offline is always published together with when it was last seen.
    offline = machine(snap.id, online=False, status="disconnected", last_seen=seen + timedelta(seconds=70))
    assert pending_after(offline) >= {"Online", "LastSeen", "Status"}


def pending_after(snapshot) -> set[str]:
    before = set(OutboxEntry.objects.values_list("sequence", flat=True))
    opcua_publish_machine(snapshot=snapshot)
    return {row.key.rsplit("/", 1)[1] for row in OutboxEntry.objects.exclude(sequence__in=before)}


def test_vanished_temperature_is_cleared_not_left_stale(opcua_settings):
    snap = machine(temperatures={"tool0": (200.0, 200.0), "tool1": (180.0, 180.0)})
    opcua_publish_machine(snapshot=snap)
    opcua_publish_machine(snapshot=machine(snap.id, temperatures={"tool0": (200.0, 200.0)}))
    assert pending()[f"Machines/{snap.id}/Temperatures/Tool1/Actual"] == [None]


def test_bad_temperature_name_writes_nothing(opcua_settings):
    with pytest.raises(ValueError, match="temperature name 'tool 0'"):
        opcua_publish_machine(snapshot=machine(temperatures={"tool 0": (1.0, 2.0)}))
    assert not OutboxEntry.objects.exists()
    assert not PublishedValue.objects.exists()


def test_non_uuid_machine_id_is_refused(opcua_settings):
    with pytest.raises(ValueError, match="UUID"):
        opcua_publish_machine(snapshot=machine("printer-1"))
    assert not OutboxEntry.objects.exists()


def test_remove_drops_undelivered_changes_and_queues_the_removal(opcua_settings):
    snap = machine()
    opcua_publish_machine(snapshot=snap)
    assert opcua_remove_machine(machine_id=snap.id) is True
    rows = list(OutboxEntry.objects.filter(delivered_at__isnull=True))
    assert [(r.key, r.value) for r in rows] == [(f"Machines/{snap.id}", {"removed": True})]
    assert not PublishedValue.objects.filter(key__startswith=f"Machines/{snap.id}").exists()
    assert opcua_remove_machine(machine_id=snap.id) is False  # never published (any more)


def test_queue_changes_only(opcua_settings):
    assert opcua_publish_queue(snapshot=QueueSnapshot(length=2, running=1, paused=False)) == 3
    assert opcua_publish_queue(snapshot=QueueSnapshot(length=2, running=1, paused=False)) == 0
    assert opcua_publish_queue(snapshot=QueueSnapshot(length=1, running=2, paused=False)) == 2


def test_health_reports_configuration_and_a_missing_bridge(opcua_settings):
    assert check_opcua().ok and check_opcua().detail == "not configured"
    opcua_settings.OPCUA_SERVE = "opc.tcp://127.0.0.1:4840"
    check = check_opcua()
    assert not check.ok and check.detail.startswith("bridge not running")
    bridge_status_update(mode="server", connected=True)
    assert check_opcua().ok
    bridge_status_update(connected=False, last_error="cannot serve on x: in use")
    assert check_opcua().detail == "cannot serve on x: in use"


def test_an_opcua_outage_degrades_health_but_lab_mes_stays_up(opcua_settings, client):
    """The lab's OPC UA server being away must not take students' web access down (503)."""
    opcua_settings.OPCUA_SERVE = "opc.tcp://127.0.0.1:4840"
    bridge_status_update(mode="server", connected=False, last_error="connection refused")
    response = client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["degraded"] == ["opcua"] and body["down"] == []
    assert body["checks"]["opcua"]["ok"] is False and body["checks"]["opcua"]["critical"] is False
    assert body["checks"]["opcua"]["detail"] == "connection refused"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"OPCUA_SERVER_URL": "opc.tcp://a:4840", "OPCUA_SERVE": "opc.tcp://0.0.0.0:4840"}, "not both"),
        ({"OPCUA_SERVER_URL": "http://scada:4840"}, "is not an opc.tcp://host:port URL"),
        ({"OPCUA_SERVE": "opc.tcp://0.0.0.0:48x0"}, "invalid port"),
        ({"OPCUA_SERVE": "opc.tcp://0.0.0.0:4840", "OPCUA_SECURITY": "Basic128"}, "use one of"),
        (
            {"OPCUA_SERVE": "opc.tcp://0.0.0.0:4840", "OPCUA_SECURITY": "Basic256Sha256"},
            "needs OPCUA_CERTIFICATE",
        ),
        ({"OPCUA_SERVE": "opc.tcp://0.0.0.0:4840", "OPCUA_USERNAME": "x"}, "both OPCUA_USERNAME"),
    ],
)
def test_bad_settings_fail_loudly(opcua_settings, overrides, message):
    for name, value in overrides.items():
        setattr(opcua_settings, name, value)
    errors = check_opcua_settings(None)  # what `manage.py check` reports
    assert [e.id for e in errors] == ["opcua.E001"] and message in errors[0].msg
    with pytest.raises(CommandError, match=message):
        call_command("opcua_bridge")


def test_bridge_command_refuses_to_run_unconfigured(opcua_settings):
    with pytest.raises(CommandError, match="OPC UA is not configured"):
        call_command("opcua_bridge")
