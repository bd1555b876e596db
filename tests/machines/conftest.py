import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.machines.dummy import fresh_registries, registry  # noqa: F401 - fixtures


@pytest.fixture
def staff():
    user = get_user_model().objects.create_user("staff", password="pw-123456!", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def student():
    user = get_user_model().objects.create_user("student", password="pw-123456!")
    client = APIClient()
    client.force_authenticate(user)
    return client
