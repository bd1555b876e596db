"""OpenAPI for request fields DRF parses more generously than its default schema says."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension


class DecimalFieldExtension(OpenApiSerializerFieldExtension):
    """A decimal is answered as a string ("0.40") but accepted as a string or a JSON number."""

    target_class = "rest_framework.fields.DecimalField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction != "request" or schema.get("type") != "string":
            return schema
        nullable = schema.pop("nullable", None)
        number = {"type": "number"}
        field = self.target
        if field.max_digits is not None and field.decimal_places is not None:
            bound = 10 ** (field.max_digits - field.decimal_places)
            number |= {
                "exclusiveMaximum": True,
                "maximum": bound,
                "exclusiveMinimum": True,
                "minimum": -bound,
            }
        if field.min_value is not None:
            number |= {"minimum": float(field.min_value), "exclusiveMinimum": False}
        if field.max_value is not None:
            number |= {"maximum": float(field.max_value), "exclusiveMaximum": False}
        result = {"anyOf": [schema, number]}
        if nullable:
            result["nullable"] = True
        return result
