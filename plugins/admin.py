"""Admin: plugins with activation and every error the registries found in them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from plugins.models import PluginConfig
from plugins.registry import get_plugin_registry
from plugins.services import plugin_set_active


@admin.register(PluginConfig)
class PluginConfigAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "version", "builtin", "active", "errors"]
    list_filter = ["active", "builtin"]
    readonly_fields = ["slug", "name", "builtin", "active", "created_at", "updated_at", "version", "errors"]
    fields = readonly_fields
    actions = ["activate_plugins", "deactivate_plugins"]

    def has_add_permission(self, request):
        return False  # rows are created by discovery

    def changelist_view(self, request, extra_context=None):
        from machines.registry import get_registry  # refresh: driver errors are found by the machine registry

        get_registry()
        registry = get_plugin_registry()
        errors = [f"{e.plugin}: {e.reason}" for e in registry.errors if e.plugin not in registry.plugins]
        for error in errors:
            self.message_user(request, f"Plugin not loaded — {error}", messages.ERROR)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Version")
    def version(self, config):
        found = get_plugin_registry().plugins.get(config.slug)
        return found.plugin.VERSION if found else "not installed"

    @admin.display(description="Errors")
    def errors(self, config):
        errors = get_plugin_registry().errors_for(config.slug)
        if not errors:
            return "-"
        return format_html(
            '<ul style="color:#dc3545;margin:0">{}</ul>',
            format_html_join("", "<li>{}</li>", ((e.reason,) for e in errors)),
        )

    def _set_active(self, request, queryset, active: bool) -> None:
        for config in queryset:
            try:
                plugin_set_active(slug=config.slug, active=active)
            except ValidationError as exc:
                self.message_user(request, f"{config.slug}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{config.slug}: {'activated' if active else 'deactivated'}.")

    @admin.action(description="Activate selected plugins")
    def activate_plugins(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected plugins")
    def deactivate_plugins(self, request, queryset):
        self._set_active(request, queryset, False)
