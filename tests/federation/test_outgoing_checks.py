"""Partner addresses go through mes.outgoing: no calls into the lab's own network, short error texts."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model

from federation.models import Partner
from federation.services.outbox import event_enqueue, federation_deliver_due_events
from tests.federation.conftest import make_partner

pytestmark = pytest.mark.django_db

CONNECT = "/api/federation/partners/connect/"


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", password="pw-123456"))
    return client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://10.0.0.5/", "a private address 10.0.0.5"),
        ("http://169.254.169.254/", "a link-local address 169.254.169.254"),
        ("http://localhost:8000/", "localhost resolves to a loopback address 127.0.0.1"),
    ],
)
def test_connect_to_an_address_inside_the_lab_network_is_a_400_on_the_field(
    staff_client, settings, base_url, reason
):
    settings.OUTGOING_ALLOWED_NETWORKS = []
    response = staff_client.post(
        CONNECT,
        {"base_url": base_url, "code": "labmes-inv-x", "scopes": ["machines:read"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert reason in response.json()["errors"]["base_url"][0]
    assert not Partner.objects.exists()


def test_connect_to_a_lab_that_is_down_says_so_in_one_short_line(staff_client):
    url = f"http://127.0.0.1:{_closed_port()}"
    response = staff_client.post(
        CONNECT,
        {"base_url": url, "code": "labmes-inv-x", "scopes": ["machines:read"]},
        content_type="application/json",
    )
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert (
        detail
        == f"could not reach {url}/.well-known/lab-mes: the connection was refused (nothing listens on that port)"
    )


def test_admin_connect_form_refuses_a_private_address(staff_client, settings):
    settings.OUTGOING_ALLOWED_NETWORKS = []
    response = staff_client.post(
        "/admin/federation/partner/connect/",
        {"base_url": "https://192.168.0.10", "code": "labmes-inv-x", "scopes": ["machines:read"]},
    )
    assert response.status_code == 200
    assert "a private address 192.168.0.10" in response.content.decode()
    assert not Partner.objects.exists()


def test_events_are_not_delivered_to_an_inbox_that_moved_into_the_lab_network(remote_lab, settings):
    partner = make_partner(remote_lab)
    partner.inbox_url = "http://10.1.2.3/api/federation/v1/inbox/"
    partner.save()
    settings.OUTGOING_ALLOWED_NETWORKS = []
    event = event_enqueue(partner=partner, type="accepted", job_ref="j1")
    assert federation_deliver_due_events() == 0
    event.refresh_from_db()
    assert event.delivered_at is None
    assert "is refused: a private address 10.1.2.3" in event.last_error
