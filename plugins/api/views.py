from __future__ import annotations

from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from mes.api.permissions import IsStaffOrReadOnly, TokenHasScope
from plugins import services
from plugins.models import PluginConfig
from plugins.registry import PluginRegistry, get_plugin_registry

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
    # Reading the machine registry first makes it reload (and re-check drivers) if anything changed.
    from machines.registry import get_registry  # the machine registry reports driver errors per plugin

    get_registry()
    return get_plugin_registry()


class PluginListView(APIView):
    """Discovered plugins with activation and errors; ``errors`` also lists plugins that failed to load."""

    scope_area = "plugins"
    permission_classes = PERMISSIONS

    def get(self, request):
        registry = _fresh_registry()
        configs = {c.slug: c for c in PluginConfig.objects.filter(slug__in=list(registry.plugins))}
        plugins = [plugin_dict(registry, slug, configs.get(slug)) for slug in sorted(registry.plugins)]
        return Response({"plugins": plugins, "errors": [e.as_dict() for e in registry.errors]})


class PluginActivationView(APIView):
    scope_area = "plugins"
    permission_classes = PERMISSIONS
    active = True

    def post(self, request, slug: str):
        config = services.plugin_set_active(slug=slug, active=self.active)
        registry = _fresh_registry()
        return Response(plugin_dict(registry, slug, config), status=status.HTTP_200_OK)
