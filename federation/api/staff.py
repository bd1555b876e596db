"""Staff endpoints (/api/federation/...): manage partners, invitations, forwarded jobs and the outbox."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from federation.api.serializers import (
    DeliveredSerializer,
    FederationEventSerializer,
    FederationReasonSerializer,
    ForwardedJobSerializer,
    ForwardJobSerializer,
    IncomingJobSerializer,
    InvitationCreatedSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    PartnerApproveSerializer,
    PartnerConnectSerializer,
    PartnerSerializer,
    PartnerStopResultSerializer,
    PartnerStopSerializer,
)
from federation.client import FederationError
from federation.identity import well_known_document
from federation.jobs_gateway import Job
from federation.models import FederationEvent, ForwardedJob, IncomingJob, Invitation, Partner
from federation.services.connections import (
    invitation_create,
    partner_approve,
    partner_connect,
    partner_reject,
    partner_stop,
)
from federation.services.jobs import (
    forwarded_job_cancel,
    incoming_job_accept,
    incoming_job_reject,
    job_forward_local,
)
from federation.services.outbox import federation_deliver_due_events
from mes.api.exceptions import error_response
from mes.api.permissions import TokenHasScope

STAFF = [permissions.IsAuthenticated, permissions.IsAdminUser, TokenHasScope]
TAGS = ["federation (staff)"]


def _bad_gateway(exc: FederationError) -> Response:
    return error_response(str(exc), code="partner_failed", status=status.HTTP_502_BAD_GATEWAY)


@extend_schema(tags=TAGS)
class PartnerViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Partner.objects.prefetch_related("shared_machines")
    serializer_class = PartnerSerializer
    permission_classes = STAFF
    scope_area = "federation"
    filterset_fields = ["state", "outbound_state"]
    search_fields = ["name", "instance_id"]

    @extend_schema(request=PartnerConnectSerializer, responses={201: PartnerSerializer, 502: None})
    @action(detail=False, methods=["post"])
    def connect(self, request):
        """Send a signed connection request to another lab with the invitation code it gave you."""
        serializer = PartnerConnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            partner = partner_connect(
                partner_base_url=data["base_url"],
                code=data["code"],
                scopes=data["scopes"],
                message=data["message"],
            )
        except FederationError as exc:
            return _bad_gateway(exc)
        return Response(PartnerSerializer(partner).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PartnerApproveSerializer, responses={200: PartnerSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        serializer = PartnerApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = partner_approve(partner=self.get_object(), by=request.user, **serializer.validated_data)
        return Response(PartnerSerializer(partner).data)

    @extend_schema(request=FederationReasonSerializer, responses={200: PartnerSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        serializer = FederationReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = partner_reject(partner=self.get_object(), by=request.user, **serializer.validated_data)
        return Response(PartnerSerializer(partner).data)

    @extend_schema(request=PartnerStopSerializer, responses={200: PartnerStopResultSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop federation now; every later request from the partner is refused."""
        serializer = PartnerStopSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner, notice = partner_stop(partner=self.get_object(), **serializer.validated_data)
        return Response({"partner": PartnerSerializer(partner).data, "notice": notice})


@extend_schema(tags=TAGS)
class InvitationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    queryset = Invitation.objects.all()
    serializer_class = InvitationSerializer
    permission_classes = STAFF
    scope_area = "federation"

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationCreatedSerializer})
    def create(self, request):
        """Create a single-use invitation; the code is in this answer only."""
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, code = invitation_create(created_by=request.user, **serializer.validated_data)
        data = InvitationSerializer(invitation).data | {"code": code}
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Invitation) -> None:
        if instance.used_at is not None:
            raise ValidationError("A used invitation is kept as a record; it cannot be deleted.")
        instance.delete()


@extend_schema(tags=TAGS)
class ForwardedJobViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = ForwardedJob.objects.select_related("partner")
    serializer_class = ForwardedJobSerializer
    permission_classes = STAFF
    scope_area = "federation"
    filterset_fields = ["partner", "remote_state"]

    @extend_schema(
        request=ForwardJobSerializer,
        responses={
            201: ForwardedJobSerializer,
            400: None,
            404: OpenApiResponse(description="No such job or partner"),
            409: OpenApiResponse(description="The job cannot be forwarded now (e.g. it is printing here)"),
            502: None,
        },
    )
    @action(detail=False, methods=["post"])
    def forward(self, request):
        """Forward one of our jobs to a partner lab (idempotent: forwarding again gives the same answer)."""

        serializer = ForwardJobSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = get_object_or_404(Job, pk=data["job"])
        partner = get_object_or_404(Partner, pk=data["partner"])
        try:
            forwarded = job_forward_local(
                job=job,
                partner=partner,
                estimated_print_seconds=data.get("estimated_print_seconds"),
                by=request.user,
            )
        except FederationError as exc:
            return _bad_gateway(exc)
        return Response(ForwardedJobSerializer(forwarded).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ForwardedJobSerializer, 502: None})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            forwarded = forwarded_job_cancel(forwarded=self.get_object())
        except FederationError as exc:
            return _bad_gateway(exc)
        return Response(ForwardedJobSerializer(forwarded).data)


@extend_schema(tags=TAGS)
class IncomingJobViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = IncomingJob.objects.select_related("partner")
    serializer_class = IncomingJobSerializer
    permission_classes = STAFF
    scope_area = "federation"
    filterset_fields = ["partner", "state"]

    @extend_schema(request=None, responses={200: IncomingJobSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return Response(
            IncomingJobSerializer(incoming_job_accept(incoming=self.get_object(), by=request.user)).data
        )

    @extend_schema(request=FederationReasonSerializer, responses={200: IncomingJobSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        serializer = FederationReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incoming = incoming_job_reject(
            incoming=self.get_object(), by=request.user, **serializer.validated_data
        )
        return Response(IncomingJobSerializer(incoming).data)


@extend_schema(tags=TAGS)
class FederationEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = FederationEvent.objects.select_related("partner")
    serializer_class = FederationEventSerializer
    permission_classes = STAFF
    scope_area = "federation"
    filterset_fields = ["partner", "type"]

    @extend_schema(request=None, responses={200: DeliveredSerializer})
    @action(detail=False, methods=["post"])
    def deliver(self, request):
        """Deliver due events now instead of waiting for the periodic task."""
        return Response({"delivered": federation_deliver_due_events()})


class IdentityView(APIView):
    """This lab's published identity (same as /.well-known/lab-mes)."""

    permission_classes = STAFF
    scope_area = "federation"

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request):
        return Response(well_known_document(request))
