"""Strict query-string inputs: integers, booleans, UUIDs and times checked and range-bounded before
they reach the database, so ``?owner=10**20`` or ``?limit=-1`` is a 400 naming the parameter rather
than a 500 (SQLite and PostgreSQL both overflow past 64-bit integers) or a silent default.

django-filter's own fields are lenient (``1.0`` as an integer, ``1`` as true, UUIDs without dashes);
the fields here accept exactly what the OpenAPI schema says, and the schema carries their bounds.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

# The largest values both SQLite and PostgreSQL store in a BIGINT and an INTEGER column.
MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
INTEGER_RE = re.compile(r"^-?[0-9]{1,19}$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Times that every database backend and the conversion to UTC can hold.
EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


def parse_integer(raw: str, *, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum]; raises ValueError with a message for people."""
    text = raw.strip()
    if not INTEGER_RE.match(text):
        raise ValueError(f"must be a whole number from {minimum} to {maximum}, not {raw[:40]!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise ValueError(f"must be a whole number from {minimum} to {maximum}")
    return value


class _PresentMeansGiven(forms.Field):
    """An absent parameter is no filter; a present but empty one (``?machine=``) is bad input."""

    empty_values = [None]

    def clean(self, value):
        if value == "":
            raise ValidationError("Give a value or leave the parameter out.", code="invalid")
        return super().clean(value)


class StrictIntegerField(_PresentMeansGiven):
    def __init__(self, *, min_value: int = 0, max_value: int = MAX_BIGINT, **kwargs) -> None:
        self.min_value, self.max_value = min_value, max_value
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_integer(str(value), minimum=self.min_value, maximum=self.max_value)
        except ValueError as exc:
            raise ValidationError(str(exc).capitalize() + ".", code="invalid") from None


class StrictBooleanField(_PresentMeansGiven):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("Must be true or false.", code="invalid")


class StrictUUIDField(_PresentMeansGiven):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not UUID_RE.match(str(value)):
            raise ValidationError(
                "Must be a UUID such as 123e4567-e89b-12d3-a456-426614174000.", code="invalid"
            )
        return uuid.UUID(str(value))


class BoundedDateTimeField(IsoDateTimeField):
    def clean(self, value):
        if value == "":
            raise ValidationError("Give a value or leave the parameter out.", code="invalid")
        return super().clean(value)

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        aware = value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
        try:
            in_range = EARLIEST <= aware <= LATEST
        except OverflowError:
            in_range = False
        if not in_range:
            raise ValidationError("Must be a time between the years 1 and 9999.", code="invalid")
        return value


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_BIGINT})
class IdFilter(django_filters.Filter):
    """A numeric id (1 .. 2**63-1)."""

    field_class = StrictIntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFilter(django_filters.BooleanFilter):
    """``true`` or ``false``, nothing else."""

    field_class = StrictBooleanField


@extend_schema_field(OpenApiTypes.UUID)
class UUIDFilter(django_filters.UUIDFilter):
    field_class = StrictUUIDField


@extend_schema_field(OpenApiTypes.DATETIME)
class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedDateTimeField


class FilterSet(django_filters.FilterSet):
    """Filters generated from ``filterset_fields`` use the strict fields too: a foreign key is
    filtered by its id (an unknown id finds nothing instead of a 400), booleans are true/false."""

    @classmethod
    def filter_for_lookup(cls, field, lookup_type):
        if lookup_type == "exact" and field.is_relation and field.many_to_one:
            target = field.target_field
            return (UUIDFilter if isinstance(target, models.UUIDField) else IdFilter), {}
        if lookup_type == "exact" and isinstance(field, models.BooleanField):
            return BooleanFilter, {}
        if lookup_type == "exact" and isinstance(field, models.UUIDField):
            return UUIDFilter, {}
        return super().filter_for_lookup(field, lookup_type)


class FilterBackend(DjangoFilterBackend):
    filterset_base = FilterSet
