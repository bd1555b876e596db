"""Strict scalar types for request bodies, installed once for every serializer (``MesConfig.ready``).

DRF coerces by default: ``{"note": 0}`` becomes the text "0" and ``{"active": 0}`` means false. The
schema says string and boolean, and a client that sends a number there has a bug we should name, so
text fields take only strings, boolean fields only true/false (or the strings "true"/"false",
which is how multipart uploads send them), UUIDs only strings and id lists only lists. Written as a patch of DRF's two fields because serializers
across the apps declare ``serializers.CharField`` directly and DRF has no setting for this.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from rest_framework import fields, relations

BOOLEAN_TEXT = {"true": True, "false": False, "True": True, "False": False}


def _char_to_internal_value(original):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return original(self, data)

    return to_internal_value


def _boolean_to_internal_value(self, data):
    if isinstance(data, bool):
        return data
    if isinstance(data, str) and data in BOOLEAN_TEXT:
        return BOOLEAN_TEXT[data]
    self.fail("invalid")


def _uuid_to_internal_value(original):
    def to_internal_value(self, data):
        if not isinstance(data, str | uuid.UUID):  # DRF would turn false or 7 into UUID(int=...)
            self.fail("invalid", value=data)
        return original(self, data)

    return to_internal_value


def _many_related_to_internal_value(original):
    def to_internal_value(self, data):
        if isinstance(data, Mapping):  # DRF iterates a dict's keys as if it were the list
            self.fail("not_a_list", input_type=type(data).__name__)
        return original(self, data)

    return to_internal_value


def install() -> None:
    if getattr(fields.CharField, "_mes_strict", False):
        return
    fields.CharField.to_internal_value = _char_to_internal_value(fields.CharField.to_internal_value)
    fields.CharField._mes_strict = True
    fields.BooleanField.to_internal_value = _boolean_to_internal_value
    fields.UUIDField.to_internal_value = _uuid_to_internal_value(fields.UUIDField.to_internal_value)
    relations.ManyRelatedField.to_internal_value = _many_related_to_internal_value(
        relations.ManyRelatedField.to_internal_value
    )
