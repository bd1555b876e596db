from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms import ModelForm, URLField

from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.services import EndpointInvalid, _check, webhook_redeliver


class EndpointForm(ModelForm):
    url = URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = Endpoint
        fields = ["name", "url", "event_types", "active", "secret"]

    def clean(self):
        data = super().clean()
        try:
            _check(url=data.get("url") or "", event_types=list(data.get("event_types") or []))
        except EndpointInvalid as exc:
            raise ValidationError(str(exc)) from None
        return data


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("name", "url", "active", "event_types", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "url")

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "started_at", "status_code", "response_ms", "error", "response_excerpt")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("state", "endpoint")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Redeliver the selected deliveries")
    def redeliver(self, request, queryset) -> None:
        for delivery in queryset:
            webhook_redeliver(delivery=delivery)
        self.message_user(request, f"{queryset.count()} delivery(ies) queued again.", messages.SUCCESS)
