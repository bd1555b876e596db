"""What makes the machine list fast under load (issue 18) without changing what it answers.

- The list is encoded with orjson (``mes.api.renderers.FastJSONRenderer``): the bytes must be DRF's.
- Web workers and pollers freeze their start-up objects (``mes.gcfreeze``); a registry reload then
  refreezes, and the registry it replaced must be freed, not kept in the permanent generation.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from machines.machine_types.printer_state import PrinterJobInfo, PrinterState, PrinterStatus, Temperature
from machines.registry import get_registry
from machines.services import machine_create
from mes import gcfreeze

pytestmark = pytest.mark.django_db


def printer(name: str, state: PrinterState):
    machine_create(name=name, machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"})
    registry = get_registry()
    machine = next(m for m in registry.machines() if m.name == name)
    registry.get_driver("dummy-printer").states[name] = state
    registry.poll(machine)
    return machine


def test_the_list_is_the_json_drf_would_write(registry, django_user_model):
    printer(
        "Prusa MK4 Raum 3 äö",
        PrinterState(
            status=PrinterStatus.PRINTING,
            temperatures={"tool0": Temperature(actual=214.63, target=215.0), "bed": Temperature(60, 60)},
            job=PrinterJobInfo(file_name="würfel.gcode", progress=33.3333, time_left=1e5),
            raw_state="Printing",
        ),
    )
    printer("idle", PrinterState(status=PrinterStatus.IDLE))
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("staff", is_staff=True))

    response = client.get("/api/machines/?limit=10")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(response.data)
    assert "Raum 3 äö".encode() in response.content  # UTF-8, not \\u escapes
    live = response.json()["results"][0]["live"]
    assert live["last_seen"].endswith("Z")


def test_a_registry_reload_under_freezing_frees_the_registry_it_replaced(registry):
    machine = printer("P1", PrinterState(status=PrinterStatus.IDLE))
    machine.notes = {"machine": machine}  # a reference cycle, as a plugin's machine type may hold
    old = weakref.ref(machine)
    del machine
    gcfreeze.freeze_after_startup(load_urls=False)
    try:
        assert gc.get_freeze_count() > 0
        get_registry().load()  # e.g. a machine was edited in another process
        assert old() is None
        assert gc.get_freeze_count() > 0  # and the new registry is frozen again
    finally:
        gcfreeze.disable()
    assert gc.get_freeze_count() == 0
