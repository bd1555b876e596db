"""Live parts of pages send only what changed (mes/static/mes/live.js, through htmx).

A live part's request carries ``HX-Request: true`` and the version of what it shows
(``X-Live-Version``, from the previous answer). ``LiveVersionMiddleware`` gives every such HTML answer
a version, a digest of its content (CSRF tokens left out: Django masks them anew on every render), and
answers ``204 No Content`` when the client already shows that version: htmx swaps nothing, and
nothing but the headers crosses the network. A view that works out the changes itself (the fleet
board: only the changed cards, ``jobs.fleet_live``) sets ``X-Live-Version`` and is left alone.
"""

from __future__ import annotations

import hashlib
import re

from django.http import HttpRequest, HttpResponse

VERSION_HEADER = "X-Live-Version"
_CSRF_VALUE = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def content_version(content: bytes) -> str:
    """A short digest of an HTML fragment, the same for renders that differ only in CSRF tokens."""
    return hashlib.blake2b(_CSRF_VALUE.sub(rb"\1\2", content), digest_size=12).hexdigest()


def unchanged(version: str) -> HttpResponse:
    response = HttpResponse(status=204)
    response[VERSION_HEADER] = version
    response["Cache-Control"] = "no-store"
    return response


def client_version(request: HttpRequest) -> str:
    return request.headers.get(VERSION_HEADER, "")[:64]


class LiveVersionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.method != "GET"
            or request.headers.get("HX-Request") != "true"
            or response.status_code != 200
            or response.streaming
            or response.has_header(VERSION_HEADER)
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        version = content_version(response.content)
        if client_version(request) == version:
            return unchanged(version)
        response[VERSION_HEADER] = version
        response["Cache-Control"] = "no-store"
        return response
