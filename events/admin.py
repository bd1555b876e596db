from django.contrib import admin

from events.models import Event, Receipt


class ReceiptInline(admin.TabularInline):
    model = Receipt
    extra = 0
    readonly_fields = ("consumer", "handled_at")
    can_delete = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("sequence", "type", "occurred_at", "actor_kind", "actor", "machine_id", "job_id")
    list_filter = ("type", "actor_kind")
    search_fields = ("id", "job_id", "machine_id", "actor")
    readonly_fields = [f.name for f in Event._meta.fields]
    inlines = [ReceiptInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
