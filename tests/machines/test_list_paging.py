"""The machine list pages by cursor: a program walking the fleet sees every machine once, even while
machines are added; ``?limit=1000`` is the whole fleet in one page; ``offset`` still works."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from machines.models import MachineConfig
from machines.services import machine_create, machines_create_many

pytestmark = pytest.mark.django_db


def _fleet(count: int, *, prefix: str = "p") -> list[str]:
    names = [f"{prefix}{n:03d}" for n in range(count)]
    machines_create_many(
        machines=[
            {"name": name, "machine_type": "printer-3d", "driver": "dummy-printer", "settings": {"HOST": "h"}}
            for name in names
        ]
    )
    return names


def _walk(client, url: str) -> tuple[list[str], list[dict]]:
    names, bodies = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        bodies.append(body)
        names += [item["name"] for item in body["results"]]
        url = body["next"]
    return names, bodies


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def test_following_next_visits_every_machine_once_in_name_order(registry, staff):
    names = _fleet(130)
    seen, bodies = _walk(staff, "/api/machines/")
    assert seen == names
    assert [len(body["results"]) for body in bodies] == [100, 30]
    assert {body["count"] for body in bodies} == {130}
    assert bodies[0]["previous"] is None
    assert "cursor" in _query(bodies[0]["next"]) and "offset" not in _query(bodies[0]["next"])
    # previous goes back to exactly the page before
    back = staff.get(bodies[1]["previous"]).json()
    assert [item["name"] for item in back["results"]] == names[:100]
    assert back["previous"] is None


def test_limit_1000_is_the_whole_fleet_in_one_page(registry, staff):
    names = _fleet(105)
    body = staff.get("/api/machines/?limit=1000").json()
    assert [item["name"] for item in body["results"]] == names
    assert body["count"] == 105 and body["next"] is None and body["previous"] is None


def test_a_machine_added_while_walking_is_neither_repeated_nor_makes_one_skipped(registry, staff):
    """With offsets, a machine inserted before the current page shifts every later one by one."""
    names = _fleet(30)
    first = staff.get("/api/machines/?limit=10").json()
    machine_create(
        name="a-new-one", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"}
    )
    MachineConfig.objects.filter(name="p015").delete()
    rest, _ = _walk(staff, first["next"])
    seen = [item["name"] for item in first["results"]] + rest
    assert seen == [name for name in names if name != "p015"]


@pytest.mark.parametrize(
    ("ordering", "paged_by"),
    [("-name", "cursor"), ("created_at", "cursor"), ("-created_at", "cursor"), ("driver", "offset")],
)
def test_pages_follow_the_requested_ordering(registry, staff, ordering, paged_by):
    """By a field many machines share (driver, type), a cursor cannot mark a place: pages go by offset."""
    names = _fleet(25)
    seen, bodies = _walk(staff, f"/api/machines/?ordering={ordering}&limit=7")
    assert sorted(seen) == names and len(seen) == 25  # every machine exactly once
    if ordering == "-name":
        assert seen == names[::-1]
    assert len(bodies) == 4
    assert paged_by in _query(bodies[0]["next"])


def test_offset_still_pages_by_position_for_older_programs(registry, staff):
    names = _fleet(30)
    body = staff.get("/api/machines/?offset=10&limit=5").json()
    assert [item["name"] for item in body["results"]] == names[10:15]
    assert body["count"] == 30
    assert _query(body["next"])["offset"] == ["15"] and _query(body["previous"])["offset"] == ["5"]


def test_every_page_costs_the_same_number_of_queries(registry, staff):
    _fleet(60)
    first = staff.get("/api/machines/?limit=20").json()
    staff.get(first["next"])  # warm up
    counts = []
    for url in ("/api/machines/?limit=20", first["next"]):
        with CaptureQueriesContext(connection) as queries:
            assert staff.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("cursor=not-base64!", "cursor", "not given out by this list"),
        ("cursor=cD0x&cursor=cD0y", "cursor", "once"),
        ("cursor=cD0x&offset=3", "cursor", "not both"),
        ("limit=1001", "limit", "from 1 to 1000"),
        ("limit=0", "limit", "from 1 to 1000"),
        ("limit=ten", "limit", "whole number"),
        ("offset=", "offset", "whole number"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(registry, staff, query, field, message):
    _fleet(3)
    response = staff.get(f"/api/machines/?{query}")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == [field] and message in errors[field][0]


def test_a_cursor_from_another_ordering_or_forged_is_a_400_not_a_500(registry, staff):
    _fleet(12)
    by_name = staff.get("/api/machines/?limit=5").json()["next"]
    cursor = _query(by_name)["cursor"][0]  # position "p004": no date
    for ordering in ("created_at", "driver"):
        response = staff.get(f"/api/machines/?ordering={ordering}&cursor={cursor}")
        assert response.status_code == 400
        assert "not given out by this list" in response.json()["errors"]["cursor"][0]


def test_the_schema_offers_cursor_limit_and_offset(client):
    schema = client.get("/api/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/machines/"]["get"]["parameters"]}
    assert parameters["cursor"]["schema"]["type"] == "string"
    assert parameters["limit"]["schema"]["maximum"] == 1000
    assert parameters["offset"]["schema"]["minimum"] == 0
    page = schema["paths"]["/api/machines/"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    ref = page["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"count", "next", "previous", "results"}
