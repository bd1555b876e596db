"""The failures the fuzzer found before the API was hardened, one by one: each answer is now a status
the published schema declares for the operation, errors in the one shape ({detail, code, errors?}),
and the nulls and lists the schema promises.

The integer overflows (``owner``/``limit``/``offset``), the partner's huge print estimate, the machine
with history, the debug page and the HTML 404s have their own tests (tests/foundation/
test_error_shape.py, tests/federation/test_partner_api.py, tests/jobs/test_machine_delete.py).
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from plugins.registry import get_plugin_registry
from tests.contract.world import seed_world
from tests.jobs.conftest import gcode

pytestmark = [pytest.mark.contract, pytest.mark.django_db]


@pytest.fixture
def world(settings):
    settings.OUTGOING_ALLOWED_NETWORKS = []
    return seed_world()


@pytest.fixture
def schema():
    return APIClient().get("/api/schema/?format=json").json()


def client(world, role: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[role]}")
    return api


def declared(schema, method: str, url: str, status: int) -> bool:
    given = url.split("?")[0].strip("/").split("/")
    for template in sorted(schema["paths"], key=lambda t: t.count("{")):  # /jobs/queue/ before /jobs/{id}/
        operations = schema["paths"][template]
        parts = template.strip("/").split("/")
        same = len(parts) == len(given) and all(
            p == g or p.startswith("{") for p, g in zip(parts, given, strict=True)
        )
        if same and method.lower() in operations:
            return str(status) in operations[method.lower()]["responses"]
    raise AssertionError(f"{method} {url} is not in the schema")


def assert_error(schema, response, method: str, url: str, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert declared(schema, method, url, status), f"{method} {url} {status} is not in the schema"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    for messages in body.get("errors", {}).values():
        assert messages and all(isinstance(m, str) for m in messages)
    return body


def test_rejected_submissions_have_a_detail_and_a_list_of_reasons(world, schema):
    api = client(world, "student")
    single = api.post("/api/jobs/", {"file": SimpleUploadedFile("a.gcode", b"\x00\x01")}, format="multipart")
    body = assert_error(schema, single, "POST", "/api/jobs/", 400)
    assert isinstance(body["reasons"], list) and body["reasons"]
    files = [SimpleUploadedFile("good.gcode", gcode()), SimpleUploadedFile("bad.gcode", b"\x00\x01")]
    batch = api.post("/api/jobs/batch/", {"files": files}, format="multipart")
    body = assert_error(schema, batch, "POST", "/api/jobs/batch/", 400)
    assert [item["success"] for item in body["items"]] == [True, False]


@pytest.mark.parametrize(
    ("method", "url", "data", "field"),
    [
        ("post", "/api/jobs/queue/lock/", {}, "note"),
        ("post", "/api/jobs/queue/move/", {"uids": "x"}, "uids"),
        ("post", "/api/jobs/queue/remove/", {"uids": [7]}, "uids.0"),
        ("post", "/api/jobs/{job}/approve/", {"reason": 5}, "reason"),
        ("post", "/api/jobs/{job}/cancel/", {"reason": ["x"]}, "reason"),
        ("post", "/api/jobs/{job}/move/", {"after_uid": "nope"}, "after_uid"),
        ("post", "/api/jobs/{job}/pause/", {"reason": True}, "reason"),
        ("post", "/api/jobs/{job}/resume/", {"reason": {}}, "reason"),
        ("patch", "/api/jobs/{job}/", {"priority": "high"}, "priority"),
        ("delete", "/api/jobs/{job}/", {"reason": 5}, "reason"),
        ("delete", "/api/jobs/{job}/", [1], None),
        ("patch", "/api/machines/{machine}/settings/", [1], None),
        ("patch", "/api/plugins/{plugin}/settings/", [1], None),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(world, schema, method, url, data, field):
    plugin = next(iter(get_plugin_registry().plugins))
    url = url.format(job=world.jobs["queued"].pk, machine=world.machines[0].pk, plugin=plugin)
    response = getattr(client(world, "staff"), method)(url, json.dumps(data), content_type="application/json")
    body = assert_error(schema, response, method, url, 400)
    if field:
        assert field in body["errors"]


@pytest.mark.parametrize(
    "query",
    ["limit=100000000000000000000", "limit=-1", "limit=1.5", "offset=-1", "offset=1&offset=2", "active=1"],
)
def test_machine_list_paging_is_checked_before_the_database(world, schema, query):
    response = client(world, "student").get(f"/api/machines/?{query}")
    body = assert_error(schema, response, "GET", "/api/machines/", 400)
    assert list(body["errors"]) == [query.split("=")[0]]


def test_nulls_and_lists_are_what_the_schema_says(world, schema):
    components = schema["components"]["schemas"]
    for name in ("machine", "target_machine", "owner"):
        assert components["Job"]["properties"][name].get("nullable") is True, name
    api = client(world, "staff")
    job = api.get(f"/api/jobs/{world.jobs['queued'].pk}/").json()
    assert job["machine"] is None and job["target_machine"] is None

    assert components["QueueState"]["properties"]["locked_by"].get("nullable") is True
    assert api.post("/api/jobs/queue/unlock/").json()["locked_by"] is None

    events = api.get(f"/api/jobs/{world.jobs['queued'].pk}/events/").json()
    assert isinstance(events, list) and events
    settings = api.get(f"/api/machines/{world.machines[0].pk}/settings/").json()
    assert isinstance(settings, list) and settings

    history = api.get("/api/jobs/history/").json()["results"]
    assert history and all(entry["created_at"] for entry in history)
