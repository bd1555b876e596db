"""Malformed signature headers get a 401 with a reason, never a 500."""

from __future__ import annotations

import pytest

from tests.federation.conftest import make_partner, send

pytestmark = pytest.mark.django_db

MACHINES = "/api/federation/v1/machines/"


@pytest.mark.parametrize(
    "signature_input",
    [
        "garbage ((",
        'other=("@method");created=1',
        'labmes="not-a-list"',
        'labmes=("@method");created="x";expires=1;nonce="n";keyid="k";alg="ed25519"',
        'labmes=("@method");created=1;expires=2;nonce="n";keyid="nokeyslash";alg="ed25519"',
        'labmes=("@method");created=1;expires=2;nonce="n";keyid="k";alg="rsa-pss-sha512"',
    ],
)
def test_malformed_signature_input_is_a_clear_401(client, remote_lab, signature_input):
    make_partner(remote_lab, granted=["machines:read"])
    data, headers = remote_lab.signed("GET", MACHINES)
    headers["Signature-Input"] = signature_input
    response = send(client, "GET", MACHINES, data, headers)
    assert response.status_code == 401, response.content
    assert response.json()["detail"]


def test_garbage_signature_value_is_a_clear_401(client, remote_lab):
    make_partner(remote_lab, granted=["machines:read"])
    data, headers = remote_lab.signed("GET", MACHINES)
    headers["Signature"] = "labmes=:bm90IGEgc2lnbmF0dXJl:"
    response = send(client, "GET", MACHINES, data, headers)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"


def test_garbage_json_body_to_inbox_is_a_clear_4xx(client, remote_lab):
    from federation.models import Partner

    make_partner(remote_lab, granted=["machines:read"])
    Partner.objects.update(outbound_state="requested")
    response = remote_lab.call(client, "POST", "/api/federation/v1/inbox/", body=["not", "an", "object"])
    assert response.status_code == 400
