"""REST API for maintenance: everyone signed in reads a machine's state; staff change it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404  # a malformed id is a 404, not a 500
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from machines.models import MachineConfig
from maintenance import selectors, services
from maintenance.api.serializers import (
    CompleteSerializer,
    MachineMaintenanceSerializer,
    MaintenanceReasonSerializer,
    PlanSerializer,
    RecordSerializer,
    ReportSerializer,
    ResolveSerializer,
)
from maintenance.models import MaintenancePlan, MaintenanceRecord, OutOfOrderReport
from maintenance.services import MaintenanceError
from mes.api.permissions import IsStaffOrReadOnly, TokenHasScope

PERMISSIONS = [IsAuthenticated, TokenHasScope, IsStaffOrReadOnly]
UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
ERRORS = {
    400: OpenApiResponse(description="Bad input (no reason, a plan that does not apply…)"),
    403: OpenApiResponse(description="Only lab staff change maintenance"),
    409: OpenApiResponse(description="Already (or not) in maintenance, or an open out-of-order report"),
}


class MaintenanceErrorMixin:
    scope_area = "maintenance"
    permission_classes = PERMISSIONS

    def handle_exception(self, exc):
        if isinstance(exc, MaintenanceError):
            code = "conflict" if exc.status_code == 409 else "invalid"
            return Response({"detail": exc.message, "code": code}, status=exc.status_code)
        return super().handle_exception(exc)


def machine_maintenance_data(machine: MachineConfig) -> dict:
    mode = selectors.maintenance_open(machine=machine)
    return {
        "machine": machine.pk,
        "machine_name": machine.name,
        "in_maintenance": mode is not None,
        "maintenance": mode,
        "counters": selectors.counters_for(machine=machine),
        "plans": selectors.plan_statuses(machine=machine),
        "open_reports": OutOfOrderReport.objects.filter(machine=machine, resolved_at__isnull=True),
    }


class MachineMaintenanceViewSet(MaintenanceErrorMixin, viewsets.GenericViewSet):
    """Per machine: counters, plans with due/overdue status, maintenance mode and open reports."""

    queryset = MachineConfig.objects.all()
    serializer_class = MachineMaintenanceSerializer
    lookup_value_regex = UUID_PATTERN

    def _answer(self, machine, code=status.HTTP_200_OK) -> Response:
        return Response(MachineMaintenanceSerializer(machine_maintenance_data(machine)).data, status=code)

    def retrieve(self, request, pk=None):
        return self._answer(self.get_object())

    @extend_schema(
        request=MaintenanceReasonSerializer, responses={201: MachineMaintenanceSerializer, **ERRORS}
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Take the machine out of scheduling now; a running print finishes undisturbed."""
        data = MaintenanceReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        machine = self.get_object()
        services.maintenance_start(machine=machine, reason=data.validated_data["reason"], user=request.user)
        return self._answer(machine, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MachineMaintenanceSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        machine = self.get_object()
        services.maintenance_end(machine=machine, user=request.user)
        return self._answer(machine)

    @extend_schema(request=CompleteSerializer, responses={201: RecordSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Record work done (a plan and/or notes); resets the since-service counters."""
        data = CompleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.maintenance_complete(
            machine=self.get_object(), user=request.user, **data.validated_data
        )
        return Response(RecordSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MaintenanceReasonSerializer, responses={201: ReportSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="out-of-order")
    def out_of_order(self, request, pk=None):
        """Report the machine out of order (with a reason); it goes into maintenance."""
        data = MaintenanceReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.out_of_order_report(
            machine=self.get_object(), user=request.user, reason=data.validated_data["reason"]
        )
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)


class PlanViewSet(MaintenanceErrorMixin, viewsets.ModelViewSet):
    """Maintenance plans for a machine type or one machine."""

    queryset = MaintenancePlan.objects.all()
    serializer_class = PlanSerializer
    filterset_fields = ["machine_type", "machine", "active"]


class RecordViewSet(MaintenanceErrorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Work done, newest first."""

    queryset = MaintenanceRecord.objects.select_related("plan", "done_by")
    serializer_class = RecordSerializer
    filterset_fields = ["machine", "plan"]


class ReportViewSet(
    MaintenanceErrorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Out-of-order reports; ``resolved=false`` lists the open ones."""

    queryset = OutOfOrderReport.objects.select_related("reported_by", "resolved_by")
    serializer_class = ReportSerializer
    filterset_fields = ["machine"]

    def get_queryset(self):
        qs = super().get_queryset()
        resolved = self.request.query_params.get("resolved")
        if resolved in ("true", "false"):
            qs = qs.filter(resolved_at__isnull=resolved == "false")
        return qs

    @extend_schema(request=ResolveSerializer, responses={200: ReportSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = get_object_or_404(OutOfOrderReport, pk=pk)
        report = services.out_of_order_resolve(report=report, user=request.user, **data.validated_data)
        return Response(ReportSerializer(report).data)
