"""JSON errors under /api/ for answers DRF never saw: unknown URLs (``/api/jobs//``), Django's own
400/403/405/413 and the 500 page (HTML, or the debug page with DEBUG on), in the one error shape."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from mes.api.exceptions import error_body

API_PREFIX = "/api/"
CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    500: "server_error",
}
DETAILS = {500: "Something went wrong on the server."}  # as mes.errors.server_error says it


class ApiErrorMiddleware:
    """Outermost middleware, so it also sees the response Django made for an uncaught exception
    (which is still logged and reported as usual before it gets here)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
            or getattr(response, "streaming", False)
        ):
            return response
        status = response.status_code
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        detail = DETAILS.get(status, f"{reason}.")
        if status == 404:
            detail = f"There is no API endpoint at {request.path}."  # as mes.errors.page_not_found
        if status == 405 and response.get("Allow"):
            detail = f"Method {request.method} not allowed; use {response['Allow']}."
        replaced = JsonResponse(error_body(detail, code=CODES.get(status, "error")), status=status)
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if response.has_header(header):
                replaced[header] = response[header]
        return replaced
