"""Paging that refuses bad ``limit``/``offset``/``cursor`` with a 400 instead of ignoring them (DRF falls
back to defaults), passing 10**20 to the database (an overflow, a 500) or answering 404.

Lists page by limit and offset. The machine list pages by cursor (``CursorPagination``): a lab's fleet
changes while a program walks it, and a cursor neither repeats nor skips a machine when one is added or
removed before it; it also never asks the database to count past an offset.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from mes.api.query import parse_integer

MAX_LIMIT = 1000
MAX_OFFSET = 10**9
INVALID_CURSOR = "This cursor was not given out by this list; follow the next and previous links."


def _query_integer(request, name: str, *, minimum: int, maximum: int, default: int) -> int:
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise ValidationError({name: [f"Give {name} once, not {len(values)} times."]})
    try:
        return parse_integer(values[0], minimum=minimum, maximum=maximum)
    except ValueError as exc:
        raise ValidationError({name: [f"{name} {exc}."]}) from None


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request) -> int:
        return _query_integer(
            request, self.limit_query_param, minimum=1, maximum=self.max_limit, default=self.default_limit
        )

    def get_offset(self, request) -> int:
        return _query_integer(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET, default=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class CursorPagination(pagination.CursorPagination):
    """DRF's cursor paging with the limit/offset lists' body (``count``, ``next``, ``previous``,
    ``results``) and ``limit`` (``?limit=1000`` is a whole fleet in one page). ``offset`` is still
    accepted, for programs written before the cursor, and then pages by offset as they expect."""

    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    ordering = "name"  # unless the request asks for another (?ordering=, the view's OrderingFilter)
    # A cursor holds the last row's value of the first ordering field; only (nearly) unique fields make
    # good cursors. By any other (a thousand machines of one type), pages go by offset.
    cursor_fields = frozenset({"name", "created_at"})

    def paginate_queryset(self, queryset, request, view=None):
        self._by_offset = None
        given = self.cursor_query_param in request.query_params
        by_cursor = self.get_ordering(request, queryset, view)[0].lstrip("-") in self.cursor_fields
        if "offset" in request.query_params or not by_cursor:
            if given:
                problem = "Give cursor or offset, not both." if by_cursor else INVALID_CURSOR
                raise ValidationError({self.cursor_query_param: [problem]})
            self._by_offset = LimitOffsetPagination()
            return self._by_offset.paginate_queryset(queryset, request, view)
        if len(request.query_params.getlist(self.cursor_query_param)) > 1:
            raise ValidationError({self.cursor_query_param: ["Give cursor once."]})
        self.count = queryset.count()
        try:
            return super().paginate_queryset(queryset, request, view)
        except (NotFound, DjangoValidationError, ValueError, OverflowError):
            if not given:
                raise
            # An undecodable cursor (DRF: 404), or a position that is no value of the ordering field
            # (a cursor from another ?ordering=, or forged): the database layer refuses it.
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None

    def get_page_size(self, request) -> int:
        return _query_integer(
            request, self.page_size_query_param, minimum=1, maximum=self.max_page_size, default=self.page_size
        )

    def get_paginated_response(self, data):
        if self._by_offset is not None:
            return self._by_offset.get_paginated_response(data)
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        body = LimitOffsetPagination().get_paginated_response_schema(schema)  # the same body
        body["properties"]["next"]["example"] = "http://lab.example.org/api/machines/?cursor=cD1tazQ%3D"
        return body

    def get_schema_operation_parameters(self, view):
        cursor = super().get_schema_operation_parameters(view)[0]
        cursor["description"] = "Where the page starts: copy it from a response's next or previous link."
        return [cursor, *LimitOffsetPagination().get_schema_operation_parameters(view)]
