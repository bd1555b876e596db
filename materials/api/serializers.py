from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from materials.models import HEX_COLOUR, MaterialType, Spool, SpoolDeduction, SpoolLoad
from materials.selectors import spool_current_load

GRAMS = {"max_digits": 9, "decimal_places": 2, "min_value": Decimal("0")}


class MaterialTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = MaterialType
        fields = ["id", "name", "density", "diameter", "low_stock_grams", "notes"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        clash = MaterialType.objects.filter(name__iexact=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(f"a material named {value!r} exists already")
        return value


class LoadSerializer(serializers.ModelSerializer):
    machine_name = serializers.CharField(source="machine.name", read_only=True)
    loaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    unloaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SpoolLoad
        fields = [
            "id",
            "spool",
            "machine",
            "machine_name",
            "tool",
            "loaded_at",
            "loaded_by",
            "unloaded_at",
            "unloaded_by",
        ]
        read_only_fields = fields


class SpoolSerializer(serializers.ModelSerializer):
    material = serializers.SlugRelatedField(slug_field="name", read_only=True)
    material_id = serializers.IntegerField(source="material.pk", read_only=True)
    loaded_on = serializers.SerializerMethodField(help_text="Where the spool is loaded now, or null.")
    label = serializers.CharField(read_only=True)

    class Meta:
        model = Spool
        fields = [
            "id", "label", "material", "material_id", "colour_name", "colour_hex", "vendor", "initial_grams",
            "remaining_grams", "lot", "cost_per_kg", "location", "label_id", "archived", "loaded_on",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_loaded_on(self, spool) -> dict | None:
        load = spool_current_load(spool)
        if load is None:
            return None
        return {
            "machine": str(load.machine_id),
            "machine_name": load.machine.name,
            "tool": load.tool,
            "loaded_at": load.loaded_at,
        }


class SpoolWriteSerializer(serializers.Serializer):
    """Input for creating or changing a spool; ``material`` is the material's name (e.g. PETG)."""

    material = serializers.CharField(max_length=50)
    colour_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    colour_hex = serializers.CharField(
        max_length=7, required=False, allow_blank=True, validators=[HEX_COLOUR]
    )
    vendor = serializers.CharField(max_length=100, required=False, allow_blank=True)
    initial_grams = serializers.DecimalField(**GRAMS)
    remaining_grams = serializers.DecimalField(**GRAMS, required=False)
    lot = serializers.CharField(max_length=100, required=False, allow_blank=True)
    cost_per_kg = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal("0"), required=False, allow_null=True
    )
    location = serializers.CharField(max_length=100, required=False, allow_blank=True)
    label_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    archived = serializers.BooleanField(required=False)


class SpoolLoadRequestSerializer(serializers.Serializer):
    machine = serializers.UUIDField()
    tool = serializers.IntegerField(min_value=0, max_value=15, default=0)


class SpoolUnloadRequestSerializer(serializers.Serializer):
    location = serializers.CharField(max_length=100, required=False, help_text="Where the spool goes now.")


class CsvUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with a header row; see docs/materials.md for the columns.")


class DeductionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SpoolDeduction
        fields = ["id", "job_id", "tool", "spool", "machine", "grams", "note", "created_at"]
        read_only_fields = fields


class StockSerializer(serializers.Serializer):
    material = serializers.CharField(source="material.name")
    remaining_grams = serializers.DecimalField(max_digits=12, decimal_places=2)
    low_stock_grams = serializers.DecimalField(max_digits=9, decimal_places=2)
    low_stock = serializers.BooleanField(
        help_text="True when the lab's remaining grams fall below the threshold."
    )


class LoadedSpoolSerializer(serializers.Serializer):
    machine = serializers.UUIDField()
    machine_name = serializers.CharField()
    tool = serializers.IntegerField()
    spool = serializers.IntegerField()
    material = serializers.CharField()
    colour_name = serializers.CharField()
    colour_hex = serializers.CharField()
    remaining_grams = serializers.FloatField()
    low_stock = serializers.BooleanField()
