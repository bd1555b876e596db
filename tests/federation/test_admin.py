"""The admin screens staff use: invite, review and approve with narrowed scopes, stop."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from federation.models import FederationEvent, Invitation, Partner
from tests.federation.conftest import make_partner
from tests.federation.test_partner_api import machine

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", password="pw-123456"))
    return client


@pytest.mark.parametrize(
    "model",
    [
        "partner",
        "invitation",
        "incomingjob",
        "forwardedjob",
        "federationevent",
        "inboxrecord",
        "seennonce",
        "localkey",
    ],
)
def test_every_federation_admin_list_renders(admin_client, model):
    assert admin_client.get(f"/admin/federation/{model}/").status_code == 200


def test_invitation_code_is_shown_once_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/federation/invitation/add/", {"note": "Lab A", "days": 5}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request) if "labmes-inv-" in str(m)]
    assert len(shown) == 1
    assert Invitation.objects.get().note == "Lab A"
    page = admin_client.get(f"/admin/federation/invitation/{Invitation.objects.get().pk}/change/")
    assert b"labmes-inv-" not in page.content


def test_admin_approves_with_narrowed_scopes_and_a_shared_machine(admin_client, remote_lab):
    printer = machine("Prusa-1")
    partner = make_partner(remote_lab, requested=["machines:read", "stats:read", "jobs:submit"])
    url = f"/admin/federation/partner/{partner.pk}/change/"
    assert admin_client.get(url).status_code == 200
    form = {
        "scopes": ["machines:read"],
        "jobs_per_day": "3",
        "max_print_hours": "",
        "shared_machines": [str(printer.pk)],
        "shared_tags": "[]",
        "on_stop": "cancel",
        "decision": "approve",
    }
    response = admin_client.post(url, form, follow=True)
    assert response.status_code == 200
    partner.refresh_from_db()
    assert partner.state == Partner.State.APPROVED
    assert partner.scopes == ["machines:read"]
    assert partner.jobs_per_day == 3 and partner.on_stop == "cancel"
    assert list(partner.shared_machines.all()) == [printer]
    assert FederationEvent.objects.get().type == "connection.approved"


def test_admin_refuses_to_grant_more_than_requested(admin_client, remote_lab):
    partner = make_partner(remote_lab, requested=["machines:read"])
    form = {
        "scopes": ["machines:read", "jobs:submit"],
        "shared_tags": "[]",
        "on_stop": "finish",
        "decision": "approve",
    }
    response = admin_client.post(f"/admin/federation/partner/{partner.pk}/change/", form)
    assert response.status_code == 200  # form shown again with the error
    assert b"approval can only narrow" in response.content
    partner.refresh_from_db()
    assert partner.state == Partner.State.PENDING


def test_admin_stop_action_stops_locally(admin_client, remote_lab):
    partner = make_partner(remote_lab, granted=["machines:read"])
    response = admin_client.post(
        "/admin/federation/partner/",
        {"action": "stop_locally", "_selected_action": [str(partner.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    partner.refresh_from_db()
    assert partner.is_stopped and partner.stopped_by == "local"


def test_connect_page_renders(admin_client):
    response = admin_client.get("/admin/federation/partner/connect/")
    assert response.status_code == 200
    assert b"Invitation code" in response.content
