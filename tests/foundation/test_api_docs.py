"""The API docs work offline: Swagger UI and ReDoc load only our own static files, and those are served."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self._in_script = True
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        if tag == "redoc" and attrs.get("spec-url"):
            self.urls.append(attrs["spec-url"])
        if "style" in attrs or tag == "style":
            raise AssertionError(f"inline style in <{tag}>")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


@pytest.fixture
def served_client(settings, admin_user):
    """A client whose requests go through WhiteNoise finding files as in `make run` (no CDN, no DEBUG)."""
    settings.WHITENOISE_USE_FINDERS = True
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("page", "bundle"), [("/api/docs/", "swagger-ui-bundle.js"), ("/api/redoc/", "redoc")]
)
def test_docs_page_loads_only_local_assets_and_they_are_served(served_client, page, bundle):
    response = served_client.get(page)
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.content.decode())
    assert parser.inline_scripts == 0
    assert any(bundle in url for url in parser.urls), parser.urls
    for url in parser.urls:
        absolute = urlsplit(urljoin(f"http://testserver{page}", url))
        assert absolute.netloc == "testserver", f"{url} is loaded from another host"
        asset = served_client.get(f"{absolute.path}?{absolute.query}" if absolute.query else absolute.path)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert body, url
        assert b"cdn.jsdelivr.net" not in body and b"fonts.googleapis.com" not in body, url


@pytest.mark.django_db
def test_swagger_start_script_points_at_our_schema(served_client):
    script = served_client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content


@pytest.fixture
def schema_builds(monkeypatch):
    """How often the OpenAPI schema is built, from an empty per-process store."""
    from drf_spectacular.generators import SchemaGenerator

    from mes.api.views import SchemaView

    monkeypatch.setattr(SchemaView, "_kept", type(SchemaView._kept)())
    builds = []
    original = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        builds.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    return builds


@pytest.mark.django_db
def test_the_schema_is_built_once_and_served_the_same_to_every_caller(schema_builds, admin_user):
    anonymous, staff = Client(), Client()
    staff.force_login(admin_user)
    first = anonymous.get("/api/schema/")
    again = staff.get("/api/schema/")
    assert first.status_code == again.status_code == 200
    assert first["Content-Type"] == again["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    assert first.content == again.content and b"/api/machines/" in first.content
    assert again["Content-Disposition"] == 'inline; filename="Lab MES API.yaml"'
    assert "Accept" in again["Vary"]
    assert len(schema_builds) == 1

    as_json = anonymous.get("/api/schema/?format=json")
    assert as_json["Content-Type"] == "application/vnd.oai.openapi+json"
    assert "/api/machines/" in as_json.json()["paths"]
    assert anonymous.get("/api/schema/?format=json").content == as_json.content
    assert len(schema_builds) == 2  # one per format


@pytest.mark.django_db
def test_odd_query_strings_cannot_grow_the_kept_schemas_without_bound(schema_builds, monkeypatch):
    from mes.api.views import SchemaView

    monkeypatch.setattr(SchemaView, "MAX_KEPT", 2)
    client = Client()
    for number in range(4):
        assert client.get(f"/api/schema/?format=json&version=v{number}").status_code == 200
    assert len(schema_builds) == 4
    assert len(SchemaView._kept) == 2
