"""Error pages for people: what happened and where to go, in the lab's style.

Under /api/ the answer stays JSON (the API's own error shape); everything else gets a page. Expected
refusals (403, 404) are logged as one line without a traceback (mes.logfilters.ExpectedRefusals).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": "You do not have permission to do this.", "code": "permission_denied"}, status=403
        )
    reason = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": f"There is no API endpoint at {request.path}.", "code": "not_found"}, status=404
        )
    return render(request, "404.html", {"path": request.path}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the request context: the failure may be in what the context needs (the database)."""
    if _is_api(request):
        return JsonResponse(
            {"detail": "Something went wrong on the server.", "code": "server_error"}, status=500
        )
    return defaults.server_error(request, template_name="500.html")
