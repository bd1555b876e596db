"""Admin: the event stream, read only, with links to the pages of the machine and job an event is about."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from events.models import Event, Receipt


class ReceiptInline(admin.TabularInline):
    model = Receipt
    extra = 0
    readonly_fields = ("consumer", "handled_at")
    can_delete = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("sequence", "type", "occurred_at", "actor_kind", "actor", "machine_link", "job_link")
    list_filter = ("type", "actor_kind")
    search_fields = ("id", "job_id", "machine_id", "actor")
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in Event._meta.fields]
    inlines = [ReceiptInline]

    @admin.display(description="Machine", ordering="machine_id")
    def machine_link(self, event: Event) -> str:
        if not event.machine_id:
            return "—"
        name = (event.payload or {}).get("name") or str(event.machine_id)[:8]
        return format_html('<a href="{}">{}</a>', reverse("machine:detail", args=[event.machine_id]), name)

    @admin.display(description="Job", ordering="job_id")
    def job_link(self, event: Event) -> str:
        if not event.job_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("jobs:detail", args=[event.job_id]), str(event.job_id)[:8]
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
