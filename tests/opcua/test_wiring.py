"""The registry feeds the publisher: real machine objects, their live state, renames and deletions."""

from __future__ import annotations

import pytest

from jobs.models import Job
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED, Printer3DStatus
from machines.machine_types.printer_state import PrinterJobInfo, PrinterState, PrinterStatus, Temperature
from machines.registry import get_registry
from machines.services import machine_create, machine_delete, machine_update, machines_create_many
from opcua.models import OutboxEntry, PublishedValue
from tests.machines.dummy import fresh_registries, registry  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def published(machine_id) -> dict[str, object]:
    prefix = f"Machines/{machine_id}"
    rows = PublishedValue.objects.filter(key__startswith=prefix)
    return {row.key[len(prefix) + 1 :] or "@name": row.value for row in rows}


def printing_state(progress: float) -> dict:
    return PrinterState(
        status=PrinterStatus.PRINTING,
        temperatures={"tool0": Temperature(209.5, 210.0), "bed": Temperature(60.0, 60.0)},
        job=PrinterJobInfo("benchy.gcode", progress, 100.0, 200.0),
        raw_state="Printing",
    ).as_dict()


def test_live_state_changes_are_published_and_polls_without_change_are_not(
    registry,  # noqa: F811
    opcua_settings,
    django_capture_on_commit_callbacks,
):
    opcua_settings.OPCUA_SERVE = "opc.tcp://127.0.0.1:4840"
    with django_capture_on_commit_callbacks(execute=True):
        config = machine_create(
            name="P1", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "printer.local"}
        )
    machine = get_registry().get_machine(config.pk)
    machine.update_state(
        status=Printer3DStatus.PRINTING,
        status_text="Printing",
        data={"printer_state": printing_state(42.0)},
        seen=True,
    )
    values = published(config.pk)
    assert values["@name"] == "P1"
    assert values["Status"] == "printing" and values["StatusCode"] == 111 and values["Online"] is True
    assert values["Temperatures/Tool0/Actual"] == 209.5 and values["Temperatures/Bed/Target"] == 60.0
    assert values["Job/File"] == "benchy.gcode" and values["Job/Progress"] == 42.0
    # Started at the printer: whatever job the reconciler recorded for it (if any) is the one shown.
    recorded = Job.objects.filter(machine_id=config.pk).first()
    assert values["Job/Id"] == (str(recorded.id) if recorded else "")
    assert values["Job/State"] == (recorded.state if recorded else "printing")

    rows = OutboxEntry.objects.count()
    machine.update_state(
        status=Printer3DStatus.PRINTING, data={"printer_state": printing_state(42.0)}, seen=True
    )
    assert OutboxEntry.objects.count() == rows  # a poll that changed nothing writes nothing

    machine.update_state(status=Printer3DStatus.DISCONNECTED, status_text="Unreachable: timeout")
    values = published(config.pk)
    assert values["Online"] is False and values["Status"] == "disconnected"
    assert values["Temperatures/Tool0/Actual"] is None  # no stale readings while unreachable
    recorded = Job.objects.filter(machine_id=config.pk).first()
    # The printer's own numbers are gone with it; a Lab MES job keeps its last recorded progress.
    assert values["Job/Progress"] == (recorded.progress if recorded else None)
    assert values["Job/State"] == (recorded.state if recorded else "")

    machine.update_state(
        status=Printer3DStatus.IDLE, data={"printer_state": None, BED_CLEAR_REQUIRED: True}, seen=True
    )
    assert published(config.pk)["AwaitingBedClear"] is True  # the jobs app's bed flag

    with django_capture_on_commit_callbacks(execute=True):
        machine_update(machine=config, name="P1 (left)")
    assert published(config.pk)["@name"] == "P1 (left)"

    machine_id = str(config.pk)
    Job.objects.filter(machine_id=machine_id).delete()  # jobs protect their machine from deletion
    with django_capture_on_commit_callbacks(execute=True):
        machine_delete(machine=config)
    assert published(machine_id) == {}
    assert OutboxEntry.objects.filter(key=f"Machines/{machine_id}", value={"removed": True}).exists()


def test_nothing_is_published_when_opcua_is_not_configured(registry, opcua_settings):  # noqa: F811
    config = machine_create(
        name="P2", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "printer.local"}
    )
    get_registry().get_machine(config.pk).update_state(status=Printer3DStatus.IDLE, seen=True)
    assert not OutboxEntry.objects.exists()


def test_clearing_the_queue_republishes_the_queue_counts(opcua_settings, django_capture_on_commit_callbacks):
    """queue_clear goes through job_transition_many, whose job_state_changed signals republish the queue."""
    from django.contrib.auth import get_user_model

    from jobs.services import queue_clear
    from opcua.wiring import publish_all
    from tests.jobs.helpers import make_job

    opcua_settings.OPCUA_SERVE = "opc.tcp://127.0.0.1:4840"
    student = get_user_model().objects.create_user("student")
    for name in ("a", "b", "c"):
        make_job(student, name=name)
    publish_all()
    assert PublishedValue.objects.get(key="Queue/Length").value == 3
    staff = get_user_model().objects.create_user("lab-staff", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert queue_clear(user=staff) == 3
    assert PublishedValue.objects.get(key="Queue/Length").value == 0
    latest = OutboxEntry.objects.filter(key="Queue/Length").order_by("-pk").first()
    assert latest.value == 0 and latest.delivered_at is None  # on its way to the OPC UA clients


def test_machines_registered_in_bulk_are_published_like_one_saved_alone(
    registry,  # noqa: F811
    opcua_settings,
    django_capture_on_commit_callbacks,
):
    opcua_settings.OPCUA_SERVE = "opc.tcp://127.0.0.1:4840"
    rows = [
        {"name": f"B{n}", "machine_type": "printer-3d", "driver": "dummy-printer", "settings": {"HOST": "h"}}
        for n in range(3)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        configs = machines_create_many(machines=rows)
    assert [published(config.pk)["@name"] for config in configs] == ["B0", "B1", "B2"]
