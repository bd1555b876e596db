"""The machine list endpoint's cost and shape: constant queries, the exact output, no cyclic garbage.

The list serializes by hand for speed (``MachineSerializer.to_representation``), so its output is
checked against a hand-written expectation and against DRF's generic field-by-field output.
"""

from __future__ import annotations

import gc
import re
from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from machines.api.serializers import (
    LIST_FIELDS,
    MachineSerializer,
    live_state_dict,
    machine_list_data,
    machine_rows_data,
)
from machines.api.views import MachineViewSet
from machines.machine_types.printer_state import PrinterJobInfo, PrinterState, PrinterStatus, Temperature
from machines.models import MachineConfig, MachineState
from machines.registry import get_registry
from machines.selectors import machine_list, machine_live_states
from machines.services import machine_create
from machines.state import LiveState, forget_state, read_states, update_state

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


@pytest.fixture
def staff_user():
    return get_user_model().objects.create_user("staff", is_staff=True)


@pytest.fixture
def staff(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def _printer(name: str, *, state: PrinterState | None = None):
    """A dummy printer, polled once when a ``state`` is given (that is how live states get written)."""
    machine_create(name=name, machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"})
    registry = get_registry()
    machine = next(m for m in registry.machines() if m.name == name)
    if state is not None:
        registry.get_driver("dummy-printer").states[name] = state
        registry.poll(machine)
    return machine


def _list_queries(client: APIClient) -> tuple[int, list[dict]]:
    get_registry().check_interval = 3600  # keep the throttled generation check out of the count
    client.get("/api/machines/?limit=1000")  # warm up
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/machines/?limit=1000")
    assert response.status_code == 200
    return len(captured), response.json()["results"]


def test_list_queries_do_not_grow_with_machines_when_states_come_from_the_database(registry, staff):
    """Cache misses (after a flush) are read in one query, not one per machine."""

    def fleet(printers: int) -> None:
        for index in range(MachineConfig.objects.filter(driver="dummy-printer").count(), printers):
            _printer(f"M{index:03}", state=PrinterState(status=PrinterStatus.IDLE))
        MachineConfig.objects.create(name=f"never-seen-{printers}", machine_type="printer-3d", driver="nope")
        for machine in MachineConfig.objects.all():
            forget_state(machine.pk)  # as after a cache flush: only the persisted states are left

    fleet(3)
    few, results = _list_queries(staff)
    assert [m["live"]["state_source"] for m in results] == ["database"] * 3 + ["none"]
    fleet(30)
    many, results = _list_queries(staff)
    assert len(results) == 32
    assert many == few
    assert {m["live"]["state_source"] for m in results} == {"database", "none"}


def test_list_shows_a_machine_exactly(registry, staff):
    machine = _printer(
        "P1",
        state=PrinterState(
            status=PrinterStatus.PRINTING,
            temperatures={"tool0": Temperature(214.5, 215.0), "bed": Temperature(59.9, 60.0)},
            job=PrinterJobInfo(file_name="part.gcode", progress=42.5, time_used=600.0, time_left=900.0),
            raw_state="Printing",
        ),
    )
    machine.handle_error("nozzle clog suspected")

    body = staff.get("/api/machines/?limit=1000").json()

    assert body["count"] == 1 and body["next"] is None and body["previous"] is None
    [item] = body["results"]
    config = MachineConfig.objects.get()
    created_at = item.pop("created_at")
    assert ISO_UTC.match(created_at) and ISO_UTC.match(item.pop("updated_at"))
    assert datetime.fromisoformat(created_at) == config.created_at
    assert ISO_UTC.match(item["live"].pop("last_seen"))
    assert item == {
        "id": str(config.pk),
        "name": "P1",
        "machine_type": "printer-3d",
        "driver": "dummy-printer",
        "active": True,
        "live": {
            "status": {"code": 111, "label": "Printing", "colour": "primary", "status_class": "ok"},
            "status_text": "Printing",
            "properties": [
                {
                    "key": "bed",
                    "value": 59.9,
                    "group": "temperatures",
                    "type": "float",
                    "max": None,
                    "unit": "°C",
                },
                {
                    "key": "bed_target",
                    "value": 60.0,
                    "group": "temperatures",
                    "type": "float",
                    "max": None,
                    "unit": "°C",
                },
                {
                    "key": "tool0",
                    "value": 214.5,
                    "group": "temperatures",
                    "type": "float",
                    "max": None,
                    "unit": "°C",
                },
                {
                    "key": "tool0_target",
                    "value": 215.0,
                    "group": "temperatures",
                    "type": "float",
                    "max": None,
                    "unit": "°C",
                },
                {
                    "key": "job_file",
                    "value": "part.gcode",
                    "group": "job",
                    "type": "str",
                    "max": None,
                    "unit": "",
                },
                {
                    "key": "job_progress",
                    "value": 42.5,
                    "group": "job",
                    "type": "progress",
                    "max": 100,
                    "unit": "",
                },
                {
                    "key": "job_time_left",
                    "value": 900.0,
                    "group": "job",
                    "type": "float",
                    "max": None,
                    "unit": "s",
                },
                {
                    "key": "job_time_used",
                    "value": 600.0,
                    "group": "job",
                    "type": "float",
                    "max": None,
                    "unit": "s",
                },
            ],
            "errors": ["nozzle clog suspected"],
            "initialized": True,
            "restart_required": False,
            "stale": False,
            "state_source": "cache",
        },
    }


class GenericMachineSerializer(serializers.ModelSerializer):
    """What DRF makes of ``MachineSerializer``'s declarations, field by field."""

    live = serializers.SerializerMethodField()

    class Meta:
        model = MachineConfig
        fields = MachineSerializer.Meta.fields

    def get_live(self, config):
        return live_state_dict(config, self.context["states"][str(config.pk)], self.context["registry"])


def render(data) -> bytes:
    return JSONRenderer().render(data)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_hand_written_output_equals_drf_generic_output(registry, zone):
    _printer("cached", state=PrinterState(status=PrinterStatus.PAUSED, raw_state="Paused"))
    from_db = _printer("from-db", state=PrinterState(status=PrinterStatus.IDLE))
    forget_state(from_db.id)
    odd = _printer("odd-status")
    update_state(odd.id, lambda raw: raw.update(status=555, errors=["boom"]), default_status=500)
    unknown = MachineConfig.objects.create(name="unknown-driver", machine_type="printer-3d", driver="x")
    MachineState.objects.filter(machine=unknown).delete()
    forget_state(unknown.pk)
    MachineConfig.objects.create(name="unknown-type", machine_type="toaster", driver="x", active=False)
    registry = get_registry()

    with timezone.override(zone):
        for machines in (list(machine_list()), list(machine_list(with_persisted_state=False))):
            context = {"registry": registry, "states": machine_live_states(machines)}
            expected = GenericMachineSerializer(machines, many=True, context=context).data
            # Rendered, so that key order and value types count too.
            assert render(machine_list_data(machines, context=context)) == render(expected)
            # The list endpoint's path: plain rows, not models.
            rows = list(machine_list(with_persisted_state=False).values(*LIST_FIELDS))
            by_rows = machine_rows_data(rows, registry=registry, states=read_states([r["id"] for r in rows]))
            assert render(by_rows) == render(expected)
            assert render(MachineSerializer(machines[0], context=context).data) == render(expected[0])
    assert len(expected) == 5


def test_list_body_is_freed_without_the_cyclic_collector(registry, staff_user):
    """A list body is thousands of objects: left in a reference cycle (DRF's view <-> response, the
    rendered response <-> its renderer context, a ListSerializer <-> its child) it waits for a full
    collection, which then pauses ~100 ms."""
    for index in range(3):
        _printer(f"M{index}", state=PrinterState(status=PrinterStatus.IDLE))
    view = MachineViewSet.as_view({"get": "list"})
    request = APIRequestFactory().get("/api/machines/?limit=1000")
    force_authenticate(request, staff_user)
    view(request).render()  # warm up (imports, registry)

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, to look at it
    try:
        response = view(request)
        response.render()
        assert len(response.data["results"]) == 3
        del response
        gc.collect()
        cyclic = [
            type(o).__name__
            for o in gc.garbage
            if isinstance(o, Response | serializers.BaseSerializer | MachineConfig | LiveState)
            or (isinstance(o, dict) and "live" in o)
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cyclic == []
