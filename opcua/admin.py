from django.contrib import admin

from opcua.health import check_opcua
from opcua.models import BridgeStatus, OutboxEntry, PublishedValue


class ReadOnlyAdmin(admin.ModelAdmin):
    """The bridge owns these rows; staff look, never edit."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "key", "kind", "value", "created", "delivered_at")
    list_filter = ("kind", ("delivered_at", admin.EmptyFieldListFilter))
    search_fields = ("key",)
    ordering = ("-sequence",)


@admin.register(PublishedValue)
class PublishedValueAdmin(ReadOnlyAdmin):
    list_display = ("key", "value", "updated")
    search_fields = ("key",)


@admin.register(BridgeStatus)
class BridgeStatusAdmin(ReadOnlyAdmin):
    list_display = (
        "mode",
        "endpoint",
        "connected",
        "health",
        "last_delivery_at",
        "last_error",
        "heartbeat_at",
    )

    @admin.display(description="health")
    def health(self, obj: BridgeStatus) -> str:
        check = check_opcua()
        return f"{'OK' if check.ok else 'FAILING'}: {check.detail} ({check.extra.get('pending', 0)} pending)"
