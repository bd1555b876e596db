"""One error shape for every API error, made by the project-wide DRF exception handler.

Every 4xx/5xx body under /api/ is ``{"detail": str, "code": str, "errors": {field: [str, ...]}}``:
``detail`` says what is wrong in a sentence, ``code`` is machine-readable (``invalid``,
``not_authenticated``, ``permission_denied``, ``not_found``, ``protected``, ``throttled``, ...), and
``errors`` appears when input fields are at fault (nested fields as ``options.0.priority``). Domain
errors may add their own members (``reasons``, ``items`` for rejected G-code). Errors outside DRF
(unknown URLs, Django's 500) get the same shape from ``ApiErrorMiddleware``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mes.cacheerrors import CACHE_UNAVAILABLE, UNAVAILABLE_MESSAGE
from mes.exceptions import DomainError

NON_FIELD_KEYS = ("non_field_errors", "__all__", "detail")


class ErrorSerializer(serializers.Serializer):
    """Schema of every error answer (component ``Error``)."""

    detail = serializers.CharField(help_text="What is wrong, in a sentence for people.")
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, permission_denied, …")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per input field (nested fields as `options.0.priority`), every message.",
    )
    reasons = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Every failed check (job submissions)."
    )
    items = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Per item of a batch, what failed."
    )


def error_body(detail: str, *, code: str, errors: Mapping[str, list[str]] | None = None, **extra) -> dict:
    body = {"detail": str(detail), "code": str(code)}
    if errors:
        body["errors"] = {str(field): [str(m) for m in messages] for field, messages in errors.items()}
    return {**body, **extra}


def error_response(
    detail: str, *, code: str, status: int, errors: Mapping[str, list[str]] | None = None, **extra
) -> Response:
    """An error answer from a view that does not raise (e.g. a partner lab that is down: 502)."""
    return Response(error_body(detail, code=code, errors=errors, **extra), status=status)


def _flatten(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field.sub.0": [messages]}."""
    if isinstance(data, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in _flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(data, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in data):
            return {prefix: [str(item) for item in data]} if data else {}
        flat = {}
        for index, item in enumerate(data):
            if not item:
                continue
            name = f"{prefix}.{index}" if prefix else str(index)
            for field, messages in _flatten(item, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    return {prefix: [str(data)]}


def _validation_body(data) -> dict:
    flat = _flatten(data)
    general = [m for key in NON_FIELD_KEYS for m in flat.pop(key, [])]
    general += flat.pop("", [])
    if general:
        detail = " ".join(general)
    elif flat:
        field, messages = next(iter(flat.items()))
        more = len(flat) - 1
        detail = f"{field}: {messages[0]}" + (f" (and {more} more field{'s' * (more > 1)})" if more else "")
    else:
        detail = "Invalid input."
    return error_body(detail, code="invalid", errors=flat)


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    if isinstance(codes, Mapping) and isinstance(codes.get("code"), str):
        return codes["code"]
    return exc.default_code


def _detail_text(data) -> str:
    if isinstance(data, Mapping) and "detail" in data:
        return str(data["detail"])
    if isinstance(data, list | tuple):
        return " ".join(str(item) for item in data)
    return str(data)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, CACHE_UNAVAILABLE):
        return Response(
            error_body(UNAVAILABLE_MESSAGE, code="cache_unavailable"),
            status=503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, ProtectedError | RestrictedError):
        model = exc.args[1] and next(iter(exc.args[1]))._meta.verbose_name_plural
        return Response(
            error_body(
                f"This is still referenced by {model or 'other records'} and cannot be deleted.",
                code="protected",
            ),
            status=409,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
    else:
        response.data = error_body(_detail_text(exc.detail), code=_code(exc))
    return response
