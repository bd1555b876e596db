"""REST API for materials: everyone signed in reads (students check what is available), staff write."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.models import MachineConfig
from materials import selectors, services
from materials.api.serializers import (
    CsvUploadSerializer,
    DeductionSerializer,
    LoadedSpoolSerializer,
    LoadSerializer,
    MaterialTypeSerializer,
    SpoolLoadRequestSerializer,
    SpoolSerializer,
    SpoolUnloadRequestSerializer,
    SpoolWriteSerializer,
    StockSerializer,
)
from materials.exceptions import ImportRejected, MaterialsError
from materials.models import MaterialType, SpoolDeduction
from mes.api.exceptions import ErrorSerializer, error_body
from mes.api.permissions import IsStaffOrReadOnly, TokenHasScope

PERMISSIONS = [IsAuthenticated, TokenHasScope, IsStaffOrReadOnly]
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input (unknown material, negative grams…)"),
    403: OpenApiResponse(description="Only lab staff change materials"),
    404: OpenApiResponse(ErrorSerializer, description="No such spool"),
    409: OpenApiResponse(ErrorSerializer, description="The spool is loaded elsewhere or in use"),
}


class MaterialsErrorMixin:
    scope_area = "materials"
    permission_classes = PERMISSIONS

    def handle_exception(self, exc):
        if isinstance(exc, MaterialsError):
            errors = exc.extra.get("errors")
            if isinstance(errors, list):  # a CSV import's rows, named like list items: "row.3"
                by_row: dict[str, list[str]] = {}
                for error in errors:
                    by_row.setdefault(f"row.{error['row']}", []).append(error["error"])
                errors = by_row
            return Response(error_body(exc.message, code=exc.code, errors=errors), status=exc.status_code)
        return super().handle_exception(exc)


class MaterialTypeViewSet(MaterialsErrorMixin, viewsets.ModelViewSet):
    """Material types (PLA, PETG…) with density and diameter for converting filament length to grams."""

    serializer_class = MaterialTypeSerializer
    queryset = MaterialType.objects.all()
    search_fields = ["name"]
    ordering_fields = ["name"]

    def perform_destroy(self, instance):
        if instance.spools.exists():
            raise MaterialsError(
                f"{instance.name} still has spools; delete or re-assign them first", code="in_use"
            )
        instance.delete()


class SpoolViewSet(MaterialsErrorMixin, viewsets.ModelViewSet):
    """Spools, where each is loaded, and their load history. Writes go through the material services."""

    serializer_class = SpoolSerializer
    filterset_fields = ["archived", "material__name", "vendor", "label_id"]
    search_fields = ["colour_name", "vendor", "lot", "label_id", "material__name"]
    ordering_fields = ["remaining_grams", "created_at", "id"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self):
        return selectors.spool_list()

    def _read(self, spool, **kwargs) -> Response:
        return Response(SpoolSerializer(selectors.spool_list().get(pk=spool.pk)).data, **kwargs)

    @extend_schema(request=SpoolWriteSerializer, responses={201: SpoolSerializer, **ERRORS})
    def create(self, request, *args, **kwargs):
        data = SpoolWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        spool = services.spool_create(**data.validated_data)
        return self._read(spool, status=status.HTTP_201_CREATED)

    @extend_schema(request=SpoolWriteSerializer, responses={200: SpoolSerializer, **ERRORS})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        data = SpoolWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        spool = services.spool_update(spool=self.get_object(), **data.validated_data)
        return self._read(spool)

    @extend_schema(responses={204: None, **ERRORS})
    def destroy(self, request, *args, **kwargs):
        services.spool_delete(spool=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=SpoolLoadRequestSerializer, responses={200: LoadSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def load(self, request, pk=None):
        """Load the spool on a tool of a machine (a spool already on that tool is swapped out)."""
        data = SpoolLoadRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        spool = self.get_object()
        if not MachineConfig.objects.filter(pk=data.validated_data["machine"]).exists():
            raise MaterialsError(f"machine {data.validated_data['machine']} does not exist")
        load = services.spool_load(
            spool=spool,
            machine=data.validated_data["machine"],
            tool=data.validated_data["tool"],
            user=request.user,
        )
        return Response(LoadSerializer(load).data)

    @extend_schema(request=SpoolUnloadRequestSerializer, responses={200: LoadSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def unload(self, request, pk=None):
        data = SpoolUnloadRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        load = services.spool_unload(
            spool=self.get_object(), user=request.user, location=data.validated_data.get("location")
        )
        return Response(LoadSerializer(load).data)

    @extend_schema(responses={200: LoadSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        """Every load and unload of the spool, newest first, with who did it."""
        return Response(LoadSerializer(selectors.spool_history(self.get_object()), many=True).data)

    @extend_schema(
        request={"multipart/form-data": CsvUploadSerializer},
        responses={201: SpoolSerializer(many=True), 413: ErrorSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_csv(self, request):
        """Import spools from a CSV file: all rows or none; errors are listed by row."""
        data = CsvUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        limit = settings.MATERIALS_CSV_MAX_BYTES
        if upload.size > limit:
            return Response(
                {"detail": f"the CSV is larger than {limit} bytes", "code": "too_large"},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportRejected("the CSV is not UTF-8 text") from exc
        spools = services.spools_import_csv(text=text)
        return Response(SpoolSerializer(spools, many=True).data, status=status.HTTP_201_CREATED)


class StockView(MaterialsErrorMixin, APIView):
    """Remaining grams per material over all spools, with the low-stock warning."""

    @extend_schema(responses={200: StockSerializer(many=True)})
    def get(self, request):
        return Response(StockSerializer(selectors.stock_by_material(), many=True).data)


class LoadedView(MaterialsErrorMixin, APIView):
    """What is loaded on every machine now: what students check before they slice."""

    @extend_schema(
        responses={200: LoadedSpoolSerializer(many=True)},
        parameters=[OpenApiParameter("material", str, required=False)],
    )
    def get(self, request):
        machines = {str(m.pk): m.name for m in MachineConfig.objects.filter(active=True)}
        low = {name.lower() for name in selectors.low_stock_material_names()}
        wanted = request.query_params.get("material", "").strip().lower()
        rows = []
        for machine_id, spools in selectors.loaded_spools_by_machine(machines).items():
            for spool in spools:
                if wanted and spool.material.lower() != wanted:
                    continue
                rows.append(
                    {
                        "machine": machine_id,
                        "machine_name": machines[machine_id],
                        "tool": spool.tool,
                        "spool": spool.spool_id,
                        "material": spool.material,
                        "colour_name": spool.colour_name,
                        "colour_hex": spool.colour_hex,
                        "remaining_grams": spool.remaining_grams,
                        "low_stock": spool.material.lower() in low,
                    }
                )
        rows.sort(key=lambda r: (r["machine_name"], r["tool"]))
        return Response(LoadedSpoolSerializer(rows, many=True).data)


class DeductionViewSet(MaterialsErrorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """What each ended job took from which spool (one row per job and tool)."""

    serializer_class = DeductionSerializer
    queryset = SpoolDeduction.objects.all()
    filterset_fields = ["job_id", "spool", "machine"]
