from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView
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


class SchemaView(SpectacularAPIView):
    """The published OpenAPI schema, built and rendered once per process for each version, language and
    format, then served from memory.

    Building it costs about 0.7 s of CPU and rendering it as YAML another 0.5 s, on every request, yet
    it changes only with the code (plugins are found when the process starts; the schema is the same
    for every caller, ``SERVE_PUBLIC``). Partners' tools, the docs pages and the contract tests fetch it
    over and over.
    """

    MAX_KEPT = 16  # versions x languages x formats; bounds what odd query strings can make us keep
    _kept: ClassVar[OrderedDict[tuple, tuple[bytes, str, str]]] = OrderedDict()

    @extend_schema(**SCHEMA_KWARGS)  # as the parent's: the schema leaves itself out (SERVE_INCLUDE_SCHEMA)
    def get(self, request, *args, **kwargs):
        key = (
            settings.ROOT_URLCONF,
            self.api_version or request.version or self._get_version_parameter(request),
            request.GET.get("lang") if settings.USE_I18N else None,
            translation.get_language(),
            request.accepted_renderer.format,
            request.accepted_media_type,
        )
        kept = self._kept.get(key)
        if kept is None:
            response = super().get(request, *args, **kwargs)
            # What DRF's finalize_response would set (it also moves this view's headers onto the response:
            # they belong to the one it returns below).
            response.accepted_renderer = request.accepted_renderer
            response.accepted_media_type = request.accepted_media_type
            response.renderer_context = self.get_renderer_context()
            response.render()
            kept = (response.content, response["Content-Type"], response["Content-Disposition"])
            self._kept[key] = kept
            while len(self._kept) > self.MAX_KEPT:
                self._kept.popitem(last=False)
        content, content_type, disposition = kept
        return HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})
