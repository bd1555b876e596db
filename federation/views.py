"""/.well-known/lab-mes: this lab's identity, keys and API location for partner labs."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from federation.identity import well_known_document


@require_GET
def well_known(request):
    response = JsonResponse(well_known_document(request))
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response
