"""The OpenAPI schema declares every error an operation can answer with, in the one error shape.

Operations keep what they declare themselves (409, 423, 413, 502, ...); this adds the errors that
come from the framework around them: 400 for bad input, 401/403 from authentication and permissions,
404 for unknown ids in the path, 415 for bodies of the wrong media type, 429 from throttles. An error
declared with no body (``502: None``) gets the error shape too.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from mes.api import schema_fields  # noqa: F401 - registers the field extensions
from mes.api.exceptions import ErrorSerializer

DESCRIPTIONS = {
    "400": "Bad input; `errors` names each field at fault",
    "401": "Not logged in, or a bad, expired or revoked token or signature",
    "403": "Not allowed: another user's object, staff only, or a token scope that is missing",
    "404": "No such object (or not visible to the caller)",
    "415": "The body's media type is not accepted",
    "429": "Too many requests; retry after the Retry-After header's seconds",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class AutoSchema(openapi.AutoSchema):
    def _error_codes(self) -> list[str]:
        view = self.view
        codes = []
        has_query = bool(getattr(view, "filterset_class", None) or getattr(view, "filterset_fields", None))
        has_query = has_query or (
            self._is_list_view() and getattr(view, "pagination_class", None) is not None
        )
        if self.method in BODY_METHODS or has_query:
            codes.append("400")
        open_to_all = any(
            isinstance(permission, type) and issubclass(permission, AllowAny)
            for permission in getattr(view, "permission_classes", [])
        )
        if not open_to_all:
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self.method in BODY_METHODS:
            codes.append("415")
        if view.get_throttles():
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in list(responses.items()):
            if int(code) >= 400 and not response.get("content"):
                responses[code] = self._error_response(code, response.get("description"))
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._error_response(code)
        return dict(sorted(responses.items()))

    def _error_response(self, code: str, description: str | None = None) -> dict:
        if not description or description == "No response body":
            description = DESCRIPTIONS.get(code, "Error")
        return self._get_response_for_code(OpenApiResponse(ErrorSerializer, description=description), code)
