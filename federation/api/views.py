"""Partner-facing endpoints (/api/federation/v1/...): every request is signed by a partner lab."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from federation.api.authentication import (
    ConnectionRequestThrottle,
    FederationRefused,
    IsPartner,
    PartnerHasScope,
    SignatureAuthentication,
    refused,
    verify_django_request,
)
from federation.api.serializers import (
    ConnectionRequestAnswerSerializer,
    ConnectionRequestSerializer,
    InboxAnswerSerializer,
    InboxEventSerializer,
    JobAnswerSerializer,
    JobPutSerializer,
    PartnerStatsSerializer,
    RemoteMachineSerializer,
)
from federation.client import FederationError, fetch_well_known
from federation.identity import local_instance, public_key_from_text, split_key_id
from federation.models import IncomingJob
from federation.selectors import etag_for, machine_availability_for_partner, partner_stats
from federation.services.connections import ConnectionRefused, connection_request_receive, invitation_check
from federation.services.inbox import inbox_receive
from federation.services.jobs import (
    JobRequestConflict,
    QuotaExceeded,
    incoming_job_cancel_requested,
    incoming_job_receive,
)
from federation.signing import SignatureRejected

REFUSALS = {
    401: OpenApiResponse(description="Missing, bad, expired or unknown-key signature; body tampered"),
    403: OpenApiResponse(description="Federation stopped, partner not approved or scope not granted"),
    409: OpenApiResponse(description="Replayed request (nonce seen before)"),
}


class PartnerAPIView(APIView):
    authentication_classes = [SignatureAuthentication]
    permission_classes = [PartnerHasScope]
    federation_scope: str | None = None


class ConnectionRequestView(APIView):
    """A lab asks to connect. Signed with the requester's own key, checked against its discovery document."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ConnectionRequestThrottle]

    @extend_schema(
        request=ConnectionRequestSerializer,
        responses={202: ConnectionRequestAnswerSerializer, 400: None, **REFUSALS},
        tags=["federation (partner labs)"],
    )
    def post(self, request):
        _ = request._request.body  # keep the raw bytes: the Content-Digest check needs them after parsing
        serializer = ConnectionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        code = (data.get("invitation") or "").strip() or None
        if code is None and not settings.FEDERATION_DISCOVERABLE:
            raise FederationRefused(
                "This lab accepts connection requests only with an invitation code.",
                status=403,
                code="invitation_required",
            )
        if str(data["instance_id"]) == str(local_instance().instance_id):
            raise FederationRefused("A lab cannot connect to itself.", status=400, code="self_connection")
        if code is not None:
            try:
                invitation_check(code=code)
            except ConnectionRefused as exc:
                raise FederationRefused(exc.reason, status=exc.status, code=exc.code) from exc
        try:
            document = fetch_well_known(data["well_known_url"])
        except FederationError as exc:
            raise FederationRefused(
                f"Could not read your discovery document: {exc}", status=400, code="discovery_failed"
            ) from exc
        if document["instance_id"] != str(data["instance_id"]):
            raise FederationRefused(
                "Your discovery document names another instance id.", status=400, code="discovery_mismatch"
            )
        document["well_known_url"] = data["well_known_url"]

        def resolve(key_id: str):
            instance_id, _ = split_key_id(key_id) if "/" in key_id else ("", "")
            text = document["keys"].get(key_id) if instance_id == document["instance_id"] else None
            return public_key_from_text(text) if text else None

        try:
            verify_django_request(request, resolve_key=resolve)
        except SignatureRejected as exc:
            raise refused(exc) from exc
        try:
            partner = connection_request_receive(
                document=document,
                scopes=data["scopes"],
                message=data["message"],
                invitation_code=code,
                discoverable=settings.FEDERATION_DISCOVERABLE,
            )
        except ConnectionRefused as exc:
            raise FederationRefused(exc.reason, status=exc.status, code=exc.code) from exc
        return Response(
            {
                "state": partner.state,
                "instance_id": str(local_instance().instance_id),
                "detail": "Request recorded; this lab's staff will approve or reject it.",
            },
            status=status.HTTP_202_ACCEPTED,
        )


class MachinesView(PartnerAPIView):
    """The machines this lab shares with the calling partner, with an ETag."""

    federation_scope = "machines:read"

    @extend_schema(
        responses={200: RemoteMachineSerializer(many=True), 304: None, **REFUSALS},
        tags=["federation (partner labs)"],
    )
    def get(self, request):
        machines = machine_availability_for_partner(partner=request.auth.partner)
        etag = etag_for(machines)
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(machines, headers={"ETag": etag})


class StatsView(PartnerAPIView):
    federation_scope = "stats:read"

    @extend_schema(responses={200: PartnerStatsSerializer, **REFUSALS}, tags=["federation (partner labs)"])
    def get(self, request):
        return Response(partner_stats(partner=request.auth.partner))


class JobView(PartnerAPIView):
    """Forward a job (idempotent PUT keyed by the origin job uuid) or read its state here."""

    @property
    def federation_scope(self) -> str:
        return "jobs:read" if self.request.method == "GET" else "jobs:submit"

    @extend_schema(
        request=JobPutSerializer,
        responses={
            202: JobAnswerSerializer,
            400: None,
            409: OpenApiResponse(description="Same id, different body; or a replay"),
            429: OpenApiResponse(description="Quota exceeded"),
            401: REFUSALS[401],
            403: REFUSALS[403],
        },
        tags=["federation (partner labs)"],
    )
    def put(self, request, origin_job_id: uuid.UUID):
        try:
            answer = incoming_job_receive(
                partner=request.auth.partner,
                origin_job_id=origin_job_id,
                raw_body=request._request.body,
                data=request.data,
            )
        except JobRequestConflict as exc:
            raise FederationRefused(str(exc), status=409, code="idempotency_conflict") from exc
        except QuotaExceeded as exc:
            raise FederationRefused(str(exc), status=429, code="quota_exceeded") from exc
        return Response(answer.body, status=answer.status)

    @extend_schema(
        responses={200: JobAnswerSerializer, 404: None, **REFUSALS}, tags=["federation (partner labs)"]
    )
    def get(self, request, origin_job_id: uuid.UUID):
        incoming = get_object_or_404(IncomingJob, partner=request.auth.partner, origin_job_id=origin_job_id)
        return Response(incoming.response_body | {"state": incoming.state})


class JobCancelView(PartnerAPIView):
    federation_scope = "jobs:submit"

    @extend_schema(
        request=None,
        responses={202: JobAnswerSerializer, 404: None, **REFUSALS},
        tags=["federation (partner labs)"],
    )
    def post(self, request, origin_job_id: uuid.UUID):
        incoming = get_object_or_404(IncomingJob, partner=request.auth.partner, origin_job_id=origin_job_id)
        try:
            incoming = incoming_job_cancel_requested(incoming=incoming)
        except JobRequestConflict as exc:
            raise FederationRefused(str(exc), status=409, code="cannot_cancel") from exc
        return Response(incoming.response_body | {"state": incoming.state}, status=status.HTTP_202_ACCEPTED)


class InboxView(APIView):
    """Signed status and connection events from partner labs; duplicates and stale events are dropped."""

    authentication_classes = [SignatureAuthentication]
    permission_classes = [IsPartner]

    @extend_schema(
        request=InboxEventSerializer,
        responses={200: InboxAnswerSerializer, 400: None, **REFUSALS},
        tags=["federation (partner labs)"],
    )
    def post(self, request):
        try:
            result = inbox_receive(partner=request.auth.partner, data=request.data)
        except ValidationError as exc:
            raise FederationRefused("; ".join(exc.messages), status=400, code="invalid_event") from exc
        return Response({"outcome": result.outcome, "detail": result.detail})
