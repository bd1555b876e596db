"""REST API for lab policies: everyone signed in reads trainings, hours and closures; students see their
own training records and what is left of their quotas; only staff write (and read quotas and others'
records)."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.models import MachineConfig
from mes.api.exceptions import ErrorSerializer, error_response
from mes.api.permissions import IsStaff, IsStaffOrReadOnly, TokenHasScope
from policies import selectors, services
from policies.api.serializers import (
    ClosureSerializer,
    JobOverrideSerializer,
    MachinePolicySerializer,
    MyPoliciesSerializer,
    OpeningHoursSerializer,
    QuotaLeftSerializer,
    QuotaSerializer,
    TrainingCsvUploadSerializer,
    TrainingRecordSerializer,
    TrainingRequirementSerializer,
    TrainingSerializer,
)
from policies.exceptions import ImportRejected
from policies.models import (
    Closure,
    JobOverride,
    MachinePolicy,
    OpeningHours,
    Quota,
    Training,
    TrainingRequirement,
)

READ_ALL_WRITE_STAFF = [IsAuthenticated, TokenHasScope, IsStaffOrReadOnly]
STAFF_ONLY = [IsAuthenticated, TokenHasScope, IsStaff]
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input (the message says what)"),
    403: OpenApiResponse(ErrorSerializer, description="Only lab staff change policies"),
    404: OpenApiResponse(ErrorSerializer, description="No such record"),
}


class PolicyViewMixin:
    scope_area = "policies"
    permission_classes = READ_ALL_WRITE_STAFF


class TrainingViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """Trainings (e.g. "FDM basics"), who gives them, and which machines need them."""

    serializer_class = TrainingSerializer
    queryset = Training.objects.all()
    search_fields = ["name", "given_by"]
    ordering_fields = ["name", "id"]

    @extend_schema(
        responses={204: None, 409: OpenApiResponse(ErrorSerializer, description="People hold this training")}
    )
    def destroy(self, request, *args, **kwargs):
        """Delete a training nobody holds (one with records answers 409: they are the lab's history)."""
        return super().destroy(request, *args, **kwargs)


class TrainingRequirementViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """A training required for every machine of a type, or for one machine."""

    serializer_class = TrainingRequirementSerializer
    queryset = TrainingRequirement.objects.all()
    filterset_fields = ["training", "machine_type", "machine"]


class TrainingRecordViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """Who completed which training, when, with whom, until when. Students see their own records."""

    serializer_class = TrainingRecordSerializer
    filterset_fields = ["user", "training"]
    ordering_fields = ["completed_on", "id"]

    def get_queryset(self):
        qs = selectors.training_records().select_related("user", "training", "trainer")
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return qs.none()
        user = self.request.user
        return qs if user.is_staff else qs.filter(user=user)

    @extend_schema(
        request={"multipart/form-data": TrainingCsvUploadSerializer},
        responses={201: TrainingRecordSerializer(many=True), 413: ErrorSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_csv(self, request):
        """Import training records from CSV: all rows or none; errors are listed by row (``errors``)."""
        data = TrainingCsvUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        limit = settings.POLICIES_CSV_MAX_BYTES
        if upload.size > limit:
            return error_response(f"the CSV is larger than {limit} bytes", code="too_large", status=413)
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportRejected("the CSV is not UTF-8 text") from exc
        records = services.training_records_import_csv(text=text)
        return Response(TrainingRecordSerializer(records, many=True).data, status=status.HTTP_201_CREATED)


class OpeningHoursViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """The lab's weekly opening hours: wall-clock times in the lab's time zone, several intervals a day."""

    serializer_class = OpeningHoursSerializer
    queryset = OpeningHours.objects.all()


class ClosureViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """Dates the lab is closed (holidays), both included."""

    serializer_class = ClosureSerializer
    queryset = Closure.objects.all()


class QuotaViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """Print-hour and gram limits per week or term, for a user or each member of a group (staff only;
    students see what is left of theirs at ``/api/policies/me/``)."""

    serializer_class = QuotaSerializer
    queryset = Quota.objects.all()
    permission_classes = STAFF_ONLY
    filterset_fields = ["user", "group", "period"]


class JobOverrideViewSet(PolicyViewMixin, viewsets.ModelViewSet):
    """Staff let a job start on an attended-only machine outside opening hours (by the job's id)."""

    serializer_class = JobOverrideSerializer
    queryset = JobOverride.objects.select_related("created_by")
    permission_classes = STAFF_ONLY
    filterset_fields = ["job_id"]

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)


class MachinePolicyViewSet(PolicyViewMixin, viewsets.ViewSet):
    """Per machine: may it print while nobody is in the lab? Addressed by the machine's id."""

    lookup_field = "pk"  # the machine's id
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    serializer_class = MachinePolicySerializer

    def _row(self, machine: MachineConfig) -> dict:
        policy = MachinePolicy.objects.filter(machine=machine).first()
        return {
            "machine": machine.pk,
            "machine_name": machine.name,
            "unattended_allowed": bool(policy and policy.unattended_allowed),
        }

    @extend_schema(responses={200: MachinePolicySerializer(many=True)})
    def list(self, request):
        allowed = selectors.unattended_machine_ids()
        rows = [
            {"machine": m.pk, "machine_name": m.name, "unattended_allowed": str(m.pk) in allowed}
            for m in MachineConfig.objects.order_by("name")
        ]
        return Response(MachinePolicySerializer(rows, many=True).data)

    @extend_schema(responses={200: MachinePolicySerializer, **ERRORS})
    def retrieve(self, request, pk=None):
        return Response(MachinePolicySerializer(self._row(get_object_or_404(MachineConfig, pk=pk))).data)

    @extend_schema(request=MachinePolicySerializer, responses={200: MachinePolicySerializer, **ERRORS})
    def update(self, request, pk=None):
        config = get_object_or_404(MachineConfig, pk=pk)
        data = MachinePolicySerializer(data=request.data, partial=False)
        data.is_valid(raise_exception=True)
        services.machine_unattended_set(machine=config, allowed=data.validated_data["unattended_allowed"])
        return Response(MachinePolicySerializer(self._row(config)).data)

    @extend_schema(request=MachinePolicySerializer, responses={200: MachinePolicySerializer, **ERRORS})
    def partial_update(self, request, pk=None):
        config = get_object_or_404(MachineConfig, pk=pk)
        data = MachinePolicySerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "unattended_allowed" in data.validated_data:
            services.machine_unattended_set(machine=config, allowed=data.validated_data["unattended_allowed"])
        return Response(MachinePolicySerializer(self._row(config)).data)


class MyPoliciesView(PolicyViewMixin, APIView):
    """The caller's training records (valid or expired) and what is left of their quotas."""

    @extend_schema(responses={200: MyPoliciesSerializer})
    def get(self, request):
        now = timezone.now()
        calendar = selectors.lab_calendar()
        quotas = selectors.quotas_left(user_ids=[request.user.pk], now=now, include_waiting=True)
        body = {
            "trainings": TrainingRecordSerializer(
                selectors.user_trainings(user=request.user), many=True
            ).data,
            "quotas": QuotaLeftSerializer(
                [q.as_dict() for q in quotas.get(request.user.pk, [])], many=True
            ).data,
            "lab_open": calendar.is_open(now),
            "next_opening": calendar.next_opening(now),
        }
        return Response(body)
