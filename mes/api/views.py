from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import mes
from mes.api.serializers import ApiTokenSerializer, MeSerializer
from mes.health import run_checks
from mes.models import ApiToken
from mes.services import api_token_revoke


class HealthView(APIView):
    """Open to anyone so that load balancers and docker healthchecks can call it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
            503: inline_serializer(
                "HealthDown", {"status": serializers.CharField(), "down": serializers.ListField()}
            ),
        }
    )
    def get(self, request):
        checks = run_checks()
        down = [name for name, check in checks.items() if not check.ok and check.critical]
        degraded = [name for name, check in checks.items() if not check.ok and not check.critical]
        body = {
            "status": "down" if down else "degraded" if degraded else "ok",
            "version": mes.__version__,
            "down": down,
            "degraded": degraded,
            "checks": {name: check.as_dict() for name, check in checks.items()},
        }
        return Response(body, status=503 if down else 200)


class MeView(APIView):
    """Who the caller is and, for token callers, what the token may do."""

    scope_area = "account"

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        data = {
            "username": request.user.get_username(),
            "is_staff": request.user.is_staff,
            "auth": "token" if token else "session",
            "scopes": token.scopes if token else None,
        }
        return Response(MeSerializer(data).data)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's own tokens. DELETE revokes (the row stays for the audit trail)."""

    serializer_class = ApiTokenSerializer
    scope_area = "account"
    lookup_field = "prefix"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user)

    def perform_destroy(self, instance):
        api_token_revoke(token=instance)
