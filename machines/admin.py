"""Admin: machines with coloured live status, errors and last seen, filters by status and errors, links
to each machine's page (/machines/<id>/); settings edited inline and validated against the type's and
driver's definitions; secret settings are never shown."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from machines import services
from machines.models import MachineConfig, MachineControlLog, MachineSetting
from machines.registry import get_registry
from machines.selectors import machine_live_states
from machines.status import describe_status

BADGE_COLOURS = {
    "success": "#198754",
    "primary": "#0d6efd",
    "info": "#0dcaf0",
    "warning": "#ffc107",
    "danger": "#dc3545",
    "secondary": "#6c757d",
    "dark": "#212529",
}
SECRET_HELP = "Leave blank to keep the stored value."  # noqa: S105 - help text, not a secret


class MachineSettingForm(forms.ModelForm):
    class Meta:
        model = MachineSetting
        fields = ["config_type", "key", "value"]
        widgets = {"value": forms.TextInput(attrs={"size": 40})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.secret = False
        if self.instance.pk and self.instance.machine_id:
            machine = self.instance.machine
            definition = (
                get_registry().definitions_for(machine.machine_type, machine.driver).get(self.instance.key)
            )
            if definition is not None and definition.secret:
                self.secret = True
                self.initial["value"] = ""
                self.fields["value"].widget = forms.PasswordInput(render_value=False, attrs={"size": 40})
                self.fields["value"].required = False
                self.fields["value"].help_text = SECRET_HELP

    def clean_value(self):
        value = self.cleaned_data.get("value", "")
        if self.secret and not value:
            return self.instance.value  # keep the stored secret
        return value


class MachineSettingFormSet(forms.BaseInlineFormSet):
    """Validate every setting row against the definitions of the machine's (possibly new) type/driver."""

    def clean(self):
        super().clean()
        machine = self.instance
        definitions = get_registry().definitions_for(machine.machine_type, machine.driver)
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            key, config_type = form.cleaned_data.get("key"), form.cleaned_data.get("config_type")
            definition = definitions.get(key)
            if definition is None or definition.config_type != config_type:
                valid = sorted(f"{d.config_type}:{k}" for k, d in definitions.items())
                form.add_error("key", f"Unknown setting {config_type}:{key}; valid settings are {valid}.")
                continue
            try:
                parsed = definition.parse(form.cleaned_data.get("value", ""))
            except ValidationError as exc:
                form.add_error("value", exc.messages)
                continue
            form.cleaned_data["value"] = definition.serialize(parsed)
            form.instance.value = form.cleaned_data["value"]


class MachineSettingInline(admin.TabularInline):
    model = MachineSetting
    form = MachineSettingForm
    formset = MachineSettingFormSet
    extra = 1


class MachineConfigForm(forms.ModelForm):
    class Meta:
        model = MachineConfig
        fields = ["name", "machine_type", "driver", "active"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("machine_type") and cleaned.get("driver"):
            for field, message in (
                get_registry().choice_errors(cleaned["machine_type"], cleaned["driver"]).items()
            ):
                self.add_error(field, message)
        return cleaned


class StatusFilter(admin.SimpleListFilter):
    """By the last stored status (machines.status codes: 1xx working, 2xx needs someone, 3xx error or
    offline, 4xx driver error, 5xx unknown)."""

    title = "status"
    parameter_name = "status"
    RANGES = {
        "ok": ("Working (idle, printing…)", 100, 199),
        "attention": ("Needs someone (paused, bed clear…)", 200, 299),
        "error": ("Error or offline", 300, 399),
        "driver": ("Driver error", 400, 499),
        "unknown": ("Unknown", 500, 599),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in self.RANGES.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.RANGES:
            return queryset
        _, low, high = self.RANGES[self.value()]
        matching = queryset.filter(state__status__gte=low, state__status__lte=high)
        if self.value() == "unknown":
            matching = matching | queryset.filter(state__status__isnull=True)
        return matching


class ErrorsFilter(admin.SimpleListFilter):
    title = "errors"
    parameter_name = "has_errors"

    def lookups(self, request, model_admin):
        return [("yes", "With errors"), ("no", "Without errors")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(state__isnull=False).exclude(state__errors=[])
        if self.value() == "no":
            return queryset.filter(state__errors=[]) | queryset.filter(state__isnull=True)
        return queryset


@admin.register(MachineConfig)
class MachineConfigAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ["mes/admin-badges.css"]}  # badges without inline styles (the CSP allows none)

    form = MachineConfigForm
    inlines = [MachineSettingInline]
    list_display = [
        "name",
        "machine_type",
        "driver",
        "active",
        "status_badge",
        "errors",
        "last_seen",
        "page_link",
    ]
    list_filter = [StatusFilter, ErrorsFilter, "machine_type", "driver", "active"]
    search_fields = ["name"]
    actions = ["restart_machines", "activate_machines", "deactivate_machines"]

    def view_on_site(self, machine: MachineConfig) -> str:
        """The admin's "View on site" button opens the machine's page (live card, camera, history)."""
        return reverse("machine:detail", args=[machine.pk])

    @admin.display(description="Page")
    def page_link(self, machine: MachineConfig) -> str:
        return format_html('<a href="{}">machine page</a>', reverse("machine:detail", args=[machine.pk]))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("state")

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        registry = get_registry()
        states = machine_live_states(changelist.result_list)  # one cache round trip for the page
        for machine in changelist.result_list:
            machine.live = states[str(machine.pk)]
            loaded = registry.get_machine(machine.pk)
            machine.config_errors = loaded.config_errors if loaded else []
            type_cls = registry.get_machine_type(machine.machine_type)
            code = machine.live.status
            if code is None and type_cls is not None:
                code = int(type_cls.default_machine_status)
            machine.status_info = describe_status(type_cls.MACHINE_STATUS if type_cls else None, code)
        return changelist

    @admin.display(description="Status")
    def status_badge(self, machine):
        info = machine.status_info
        text = machine.live.status_text
        return format_html(
            '<span class="mes-badge mes-badge-{}" title="{}">{}</span>{}',
            info["colour"] if info["colour"] in BADGE_COLOURS else "secondary",
            info["status_class"],
            info["label"],
            format_html(" <small>{}</small>", text) if text else "",
        )

    @admin.display(description="Errors")
    def errors(self, machine):
        errors = [*machine.config_errors, *machine.live.errors]
        if not errors:
            return "-"
        return format_html(
            '<ul class="mes-errors">{}</ul>',
            format_html_join("", "<li>{}</li>", ((e,) for e in errors)),
        )

    @admin.display(description="Last seen")
    def last_seen(self, machine):
        if machine.live.last_seen is None:
            return "never"
        return format_html(
            "{}{}",
            machine.live.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
            " (stale)" if machine.live.stale else "",
        )

    @admin.action(description="Restart selected machines")
    def restart_machines(self, request, queryset):
        for machine in queryset:
            try:
                ran_here = services.machine_restart(machine=machine)
            except ValidationError as exc:
                self.message_user(request, f"{machine}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            note = "restarted" if ran_here else "restart requested from its owner"
            self.message_user(request, f"{machine}: {note}.", messages.SUCCESS)

    @admin.action(description="Activate selected machines")
    def activate_machines(self, request, queryset):
        for machine in queryset:
            services.machine_set_active(machine=machine, active=True)
        self.message_user(request, f"Activated {queryset.count()} machine(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected machines")
    def deactivate_machines(self, request, queryset):
        for machine in queryset:
            services.machine_set_active(machine=machine, active=False)
        self.message_user(request, f"Deactivated {queryset.count()} machine(s).", messages.SUCCESS)


@admin.register(MachineControlLog)
class MachineControlLogAdmin(admin.ModelAdmin):
    """The audit trail of operator controls: read only, nobody edits history."""

    list_display = ["created_at", "machine", "username", "control", "outcome", "message"]
    list_filter = ["outcome", "control", "machine"]
    search_fields = ["username", "message", "machine__name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
