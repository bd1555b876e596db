"""Limit/offset paging that refuses bad ``limit``/``offset`` with a 400 instead of ignoring them
(DRF falls back to defaults) or passing 10**20 to the database (an overflow, a 500)."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

from mes.api.query import parse_integer

MAX_LIMIT = 1000
MAX_OFFSET = 10**9


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def _parameter(self, request, name: str, *, minimum: int, maximum: int, default: int) -> int:
        values = request.query_params.getlist(name)
        if not values:
            return default
        if len(values) > 1:
            raise ValidationError({name: [f"Give {name} once, not {len(values)} times."]})
        try:
            return parse_integer(values[0], minimum=minimum, maximum=maximum)
        except ValueError as exc:
            raise ValidationError({name: [f"{name} {exc}."]}) from None

    def get_limit(self, request) -> int:
        return self._parameter(
            request, self.limit_query_param, minimum=1, maximum=self.max_limit, default=self.default_limit
        )

    def get_offset(self, request) -> int:
        return self._parameter(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET, default=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
