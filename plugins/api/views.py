from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from mes.api.exceptions import ErrorSerializer
from mes.api.permissions import IsStaffOrReadOnly, TokenHasScope
from plugins import selectors, services
from plugins.api.serializers import PluginListSerializer, PluginSerializer, PluginSettingSerializer
from plugins.models import PluginConfig
from plugins.registry import PluginRegistry, get_plugin_registry
from plugins.setting_defs import SettingsInvalid

PERMISSIONS = [IsAuthenticated, TokenHasScope, IsStaffOrReadOnly]


def plugin_dict(registry: PluginRegistry, slug: str, config: PluginConfig | None) -> dict:
    found = registry.plugins[slug]
    plugin = found.plugin
    return {
        "slug": slug,
        "name": plugin.NAME,
        "version": plugin.VERSION,
        "author": plugin.AUTHOR,
        "description": plugin.DESCRIPTION,
        "mes_version": plugin.MES_VERSION,
        "mixins": plugin.mixins(),
        "builtin": found.builtin,
        "source": found.source,
        "active": config.active if config else found.builtin,
        "errors": [e.as_dict() for e in registry.errors_for(slug)],
    }


def _fresh_registry() -> PluginRegistry:
    registry = get_plugin_registry()
    registry.refresh_errors()  # driver checks and settings problems, current before they are shown
    return registry


class PluginListView(APIView):
    """Discovered plugins with activation and errors; ``errors`` also lists plugins that failed to load."""

    scope_area = "plugins"
    permission_classes = PERMISSIONS

    @extend_schema(responses=PluginListSerializer)
    def get(self, request):
        registry = _fresh_registry()
        configs = {c.slug: c for c in PluginConfig.objects.filter(slug__in=list(registry.plugins))}
        plugins = [plugin_dict(registry, slug, configs.get(slug)) for slug in sorted(registry.plugins)]
        return Response({"plugins": plugins, "errors": [e.as_dict() for e in registry.errors]})


class PluginActivationView(APIView):
    scope_area = "plugins"
    permission_classes = PERMISSIONS
    active = True

    @extend_schema(request=None, responses={200: PluginSerializer, 404: ErrorSerializer})
    def post(self, request, slug: str):
        try:
            config = services.plugin_set_active(slug=slug, active=self.active)
        except selectors.PluginNotFound as exc:
            raise NotFound(exc.messages[0]) from exc
        except services.PluginActivationRefused as exc:
            return Response(
                {
                    "detail": exc.messages[0],
                    "code": "plugin_invalid",
                    "reasons": [error.reason for error in exc.errors],  # each a failed check of the plugin
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        registry = _fresh_registry()
        return Response(plugin_dict(registry, slug, config), status=status.HTTP_200_OK)


class PluginSettingsView(APIView):
    """Plugin-wide settings (``SETTINGS`` on the plugin class) with their current values.

    Anyone signed in may read them; only staff may change them. Secret settings are write-only: their
    ``value`` is always null and ``is_set`` tells whether one is stored.
    """

    scope_area = "plugins"
    permission_classes = PERMISSIONS

    @extend_schema(responses={200: PluginSettingSerializer(many=True), 404: ErrorSerializer})
    def get(self, request, slug: str):
        return Response(self._rows(slug))

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            200: PluginSettingSerializer(many=True),
            400: ErrorSerializer,  # errors: {KEY: [messages]}
            404: ErrorSerializer,
        },
        description="Body: {KEY: value}; null or empty text unsets (the default applies). All or nothing: "
        "any unknown key or bad value answers 400 with messages per key and saves nothing.",
    )
    def patch(self, request, slug: str):
        try:
            services.plugin_settings_update(slug=slug, values=request.data)
        except selectors.PluginNotFound as exc:
            raise NotFound(exc.messages[0]) from exc
        except SettingsInvalid as exc:
            raise ValidationError(exc.api_body()) from exc
        return Response(self._rows(slug))

    def _rows(self, slug: str) -> list[dict]:
        try:
            rows = selectors.plugin_settings_list(slug=slug)
        except selectors.PluginNotFound as exc:
            raise NotFound(exc.messages[0]) from exc
        return PluginSettingSerializer(rows, many=True).data
