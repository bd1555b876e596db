from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from machines.models import MachineConfig
from materials.models import MaterialType
from tests.jobs.dispatch_support import farm, jobs_simulator, tasks  # noqa: F401 - fixtures


@pytest.fixture
def pla(db):
    return MaterialType.objects.create(name="PLA", density=Decimal("1.24"), low_stock_grams=Decimal("500"))


@pytest.fixture
def petg(db):
    return MaterialType.objects.create(name="PETG", density=Decimal("1.27"), low_stock_grams=Decimal("300"))


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("tech", is_staff=True)


@pytest.fixture
def student(db):
    return get_user_model().objects.create_user("stud")


@pytest.fixture
def machine(db):
    return MachineConfig.objects.create(name="mk4", machine_type="printer-3d", driver="simulator")


@pytest.fixture
def other_machine(db):
    return MachineConfig.objects.create(name="mini", machine_type="printer-3d", driver="simulator")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
