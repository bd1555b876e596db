"""Admin: plugins with activation, every error the registries found in them, and their plugin-wide
settings edited inline, validated against the plugin's ``SETTINGS``; secret settings are never shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from plugins.models import PluginConfig, PluginSetting
from plugins.registry import get_plugin_registry
from plugins.selectors import PluginNotFound, plugin_discovered, plugin_settings_list
from plugins.services import plugin_set_active
from plugins.setting_defs import SettingDefinition, masked_messages

SECRET_HELP = "Leave blank to keep the stored value."  # noqa: S105 - help text, not a secret


def _definitions(config: PluginConfig | None) -> dict[str, SettingDefinition]:
    if config is None or not config.pk:
        return {}
    try:
        return plugin_discovered(slug=config.slug).plugin.setting_definitions()
    except PluginNotFound:
        return {}  # not installed here: stored rows can only be deleted


class PluginSettingForm(forms.ModelForm):
    """One stored setting. The key is picked from the plugin's definitions; a secret's value is a
    password field that never renders the stored (or a just-submitted) value."""

    class Meta:
        model = PluginSetting
        fields = ["key", "value"]
        widgets = {"value": forms.TextInput(attrs={"size": 40})}

    def __init__(self, *args: Any, definitions: dict[str, SettingDefinition] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.definitions = definitions or {}
        choices = [("", "---------")] + [(k, f"{k} ({d.name})") for k, d in self.definitions.items()]
        if self.instance.key and self.instance.key not in self.definitions:
            choices.append((self.instance.key, f"{self.instance.key} (no longer defined)"))
        # A select for convenience; any submitted key is checked (with the valid keys named) in clean().
        self.fields["key"].widget = forms.Select(choices=choices)
        key = self.data.get(self.add_prefix("key")) if self.is_bound else None
        definition = self.definitions.get(key or self.instance.key)
        self.secret = definition is not None and definition.secret
        if self.secret:
            self.initial["value"] = ""
            attrs = {"size": 40, "placeholder": SECRET_HELP if self.instance.pk else "secret"}
            self.fields["value"].widget = forms.PasswordInput(render_value=False, attrs=attrs)
            self.fields["value"].required = False

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("DELETE"):
            return cleaned
        key = cleaned.get("key")
        definition = self.definitions.get(key)
        if definition is None:
            self.add_error("key", f"Unknown setting {key!r}; valid settings are {sorted(self.definitions)}.")
            return cleaned
        value = cleaned.get("value", "")
        if definition.secret and not value and self.instance.pk and self.instance.key == key:
            cleaned["value"] = self.instance.value  # blank keeps the stored secret
            return cleaned
        try:
            parsed = definition.parse(value)
        except ValidationError as exc:
            self.add_error("value", masked_messages(definition, value, exc))
            return cleaned
        cleaned["value"] = definition.serialize(parsed)
        self.instance.value = cleaned["value"]
        return cleaned


class PluginSettingFormSet(forms.BaseInlineFormSet):
    """Hands the plugin's definitions to every row; Django saves no row unless all rows are valid."""

    definitions: dict[str, SettingDefinition] = {}

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "definitions": self.definitions}


class PluginSettingInline(admin.TabularInline):
    model = PluginSetting
    form = PluginSettingForm
    formset = PluginSettingFormSet
    fields = ["key", "value", "updated_at"]
    readonly_fields = ["updated_at"]
    extra = 1

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.definitions = _definitions(obj)
        return formset


@admin.register(PluginConfig)
class PluginConfigAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ["mes/admin-badges.css"]}

    list_display = ["slug", "name", "version", "builtin", "active", "errors"]
    list_filter = ["active", "builtin"]
    readonly_fields = [
        "slug",
        "name",
        "builtin",
        "active",
        "created_at",
        "updated_at",
        "version",
        "errors",
        "settings_overview",
    ]
    fields = readonly_fields
    inlines = [PluginSettingInline]
    actions = ["activate_plugins", "deactivate_plugins"]

    def has_add_permission(self, request):
        return False  # rows are created by discovery

    def changelist_view(self, request, extra_context=None):
        registry = get_plugin_registry()
        registry.refresh_errors()  # driver checks and settings problems, current before they are shown
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
            '<ul class="mes-errors">{}</ul>',
            format_html_join("", "<li>{}</li>", ((e.reason,) for e in errors)),
        )

    @admin.display(description="Settings")
    def settings_overview(self, config):
        """Every defined setting with its current value (the default when unset); secrets masked."""
        try:
            rows = plugin_settings_list(slug=config.slug)
        except PluginNotFound:
            return "not installed"
        if not rows:
            return "This plugin has no settings."

        def shown(row: dict) -> str:
            if row["secret"]:
                return "•••••• (set)" if row["is_set"] else "(not set)"
            return f"{row['value']!r}" + ("" if row["is_set"] else " (default)")

        return format_html(
            "<table><tr><th>Key</th><th>Name</th><th>Type</th><th>Value</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((r["key"], r["name"], r["type"], shown(r)) for r in rows),
            ),
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
