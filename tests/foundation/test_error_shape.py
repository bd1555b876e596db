"""Every API error has one shape: {"detail", "code", "errors"?}, JSON even where DRF never ran."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import path
from rest_framework.test import APIClient

from mes.urls import urlpatterns as project_urls

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("api/boom/", _boom), *project_urls]


@pytest.fixture
def student():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user("student"))
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    "url", ["/api/jobs//", "/api/nope/", "/api/machines/not-a-uuid/", "/api/jobs/x/y/z/"]
)
def test_unknown_urls_under_api_are_json_404s(student, url):
    body = assert_error(student.get(url), 404, "not_found")
    assert body["detail"] == f"There is no API endpoint at {url}."


def test_unknown_urls_outside_api_stay_html(student):
    response = student.get("/nope/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_wrong_method_is_a_json_405_naming_the_allowed_ones(student):
    body = assert_error(student.put("/api/jobs/queue/"), 405, "method_not_allowed")
    assert 'Method "PUT" not allowed.' in body["detail"]


def test_anonymous_and_bad_token_are_401_in_the_shape():
    assert_error(APIClient().get("/api/jobs/"), 401, "not_authenticated")
    body = assert_error(
        APIClient().get("/api/jobs/", HTTP_AUTHORIZATION="Bearer mes_nope_nope"), 401, "authentication_failed"
    )
    assert body["detail"] == "Invalid API token."


def test_student_on_a_staff_endpoint_is_403_before_the_body_is_read(student):
    body = assert_error(student.post("/api/jobs/queue/move/", {"nonsense": 1}), 403, "permission_denied")
    assert body["detail"] == "Only lab staff may do this."


def test_field_errors_are_listed_per_field_with_a_summary(student):
    body = assert_error(student.post("/api/jobs/queue/remove/", {"uids": ["x", 7]}), 400, "invalid")
    assert body["errors"] == {"uids.0": ["Must be a valid UUID."], "uids.1": ["Must be a valid UUID."]}
    assert set(body["errors"]) >= {"uids.0"}
    assert body["detail"].startswith(next(iter(body["errors"])) + ": ")


def test_malformed_json_is_a_400_parse_error(student):
    response = student.post("/api/jobs/queue/remove/", "{", content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("owner=100000000000000000000", "owner"),
        ("owner=-1.7976931348623157e%2B308", "owner"),
        ("owner=1.0", "owner"),
        ("owner=0", "owner"),
        ("limit=100000000000000000000", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=1&limit=2", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("offset=1e3", "offset"),
        ("offset=1&offset=2", "offset"),
        ("offset=100000000000000000000", "offset"),
        ("batch=nope", "batch"),
        ("batch=", "batch"),
        ("batch=123e4567e89b12d3a456426614174000", "batch"),
        ("machine=%7B123e4567-e89b-12d3-a456-426614174000%7D", "machine"),
        ("external=1", "external"),
        ("finished_after=9999-12-31T23:59:59-12:00", "finished_after"),
        ("finished_after=tomorrow", "finished_after"),
    ],
)
@pytest.mark.parametrize("endpoint", ["/api/jobs/", "/api/jobs/history/"])
def test_query_inputs_are_checked_before_the_database(student, endpoint, query, field):
    body = assert_error(student.get(f"{endpoint}?{query}"), 400, "invalid")
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("query", ["active=1", "active=True", "active=yes", "limit=10000"])
def test_machine_list_inputs_are_strict(student, query):
    assert_error(student.get(f"/api/machines/?{query}"), 400, "invalid")


@pytest.mark.parametrize("query", ["owner=1", "limit=1000&offset=1000000000", "external=false", "search="])
def test_valid_query_inputs_still_work(student, query):
    response = student.get(f"/api/jobs/?{query}")
    assert response.status_code == 200, response.json()


def test_a_server_error_under_api_is_json_without_the_debug_page(settings, student):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = True
    student.raise_request_exception = False
    body = assert_error(student.get("/api/boom/"), 500, "server_error")
    assert "a bug" not in str(body) and "Traceback" not in str(body)


def test_the_schema_declares_the_error_shape_for_every_error_status(student):
    schema = APIClient().get("/api/schema/?format=json").json()
    assert set(schema["components"]["schemas"]["Error"]["properties"]) >= {"detail", "code", "errors"}
    missing = []
    for url, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            for code, response in operation["responses"].items():
                if int(code) < 400 or (url, code) == ("/api/health/", "503"):  # health names what is down
                    continue
                body = response.get("content", {}).get("application/json", {}).get("schema", {})
                if body.get("$ref") != "#/components/schemas/Error":
                    missing.append(f"{method.upper()} {url} {code} is not the Error shape")
            needed = {"404"} if "{" in url else set()
            if operation.get("security") != [{}] and "security" in operation:
                needed |= {"401", "403"}
            if method in ("post", "put", "patch"):
                needed |= {"400", "415"}
            missing += [f"{method.upper()} {url} lacks {code}" for code in sorted(needed - codes)]
    assert missing == []
