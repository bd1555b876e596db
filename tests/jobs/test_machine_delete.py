"""Deleting a machine that has print history is a 409 that offers deactivation, never a 500."""

from __future__ import annotations

import pytest

from machines.models import MachineConfig
from tests.jobs.helpers import make_job

pytestmark = pytest.mark.django_db


def test_machine_with_history_is_409_and_offers_deactivation(api, staff, student, machine):
    make_job(student, machine=machine, state="completed")
    response = api(staff).delete(f"/api/machines/{machine.pk}/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "machine_in_use"
    assert body["jobs"] == 1
    assert body["detail"].startswith("mk4 cannot be deleted: 1 job in its history refer to it.")
    assert "Deactivate it instead" in body["detail"]
    assert MachineConfig.objects.filter(pk=machine.pk).exists()

    response = api(staff).patch(f"/api/machines/{machine.pk}/", {"active": False})
    assert response.status_code == 200 and response.json()["active"] is False


def test_machine_without_history_is_deleted(api, staff, machine):
    assert api(staff).delete(f"/api/machines/{machine.pk}/").status_code == 204
    assert not MachineConfig.objects.exists()
