"""Staff-only webhook API: endpoints (the secret is shown to staff, it signs deliveries) and deliveries."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from mes.api.permissions import TokenHasScope
from webhooks.api.serializers import DeliverySerializer, EndpointSerializer
from webhooks.selectors import delivery_list, endpoint_list
from webhooks.services import (
    EndpointInvalid,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_redeliver,
)


def _invalid(exc: EndpointInvalid) -> ValidationError:
    field, _, message = str(exc).partition(": ")
    return ValidationError({field: [message]} if message else {"non_field_errors": [str(exc)]})


class EndpointViewSet(viewsets.ModelViewSet):
    permission_classes = [IsAdminUser, TokenHasScope]
    scope_area = "webhooks"
    serializer_class = EndpointSerializer

    def get_queryset(self):
        return endpoint_list()

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = webhook_endpoint_create(
                name=data["name"],
                url=data["url"],
                event_types=data.get("event_types") or [],
                active=data.get("active", True),
                user=self.request.user,
            )
        except EndpointInvalid as exc:
            raise _invalid(exc) from None

    def perform_update(self, serializer) -> None:
        try:
            serializer.instance = webhook_endpoint_update(
                endpoint=serializer.instance, **serializer.validated_data
            )
        except EndpointInvalid as exc:
            raise _invalid(exc) from None


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAdminUser, TokenHasScope]
    scope_area = "webhooks"
    serializer_class = DeliverySerializer
    filterset_fields = ["endpoint", "state"]

    def get_queryset(self):
        return delivery_list()

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None) -> Response:
        delivery = webhook_redeliver(delivery=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
