"""Admin: plans, counters with due/overdue badges, work done, maintenance mode and out-of-order reports."""

from __future__ import annotations

from django.contrib import admin

from maintenance.models import (
    MachineCounters,
    MaintenanceMode,
    MaintenancePlan,
    MaintenanceRecord,
    OutOfOrderReport,
)
from maintenance.services import out_of_order_resolve
from materials.admin import BadgeMedia, badge


@admin.register(MaintenancePlan)
class MaintenancePlanAdmin(admin.ModelAdmin):
    list_display = ["name", "applies_to", "every_print_hours", "every_days", "auto", "active"]
    list_filter = ["active", "auto_maintenance", "machine_type"]
    Media = BadgeMedia

    @admin.display(description="Applies to")
    def applies_to(self, obj):
        return obj.machine.name if obj.machine_id else f"every {obj.machine_type}"

    @admin.display(description="Automatic maintenance")
    def auto(self, obj):
        return badge("when overdue", "warning") if obj.auto_maintenance else "—"


@admin.register(MachineCounters)
class MachineCountersAdmin(admin.ModelAdmin):
    list_display = [
        "machine",
        "hours",
        "jobs",
        "failed_jobs",
        "filament_grams",
        "since_service",
        "last_service_at",
    ]
    readonly_fields = [f.name for f in MachineCounters._meta.fields]
    Media = BadgeMedia

    @admin.display(description="Print hours", ordering="print_seconds")
    def hours(self, obj):
        return f"{obj.print_hours:.1f}"

    @admin.display(description="Since last service")
    def since_service(self, obj):
        return f"{obj.service_print_hours:.1f} h, {obj.service_jobs} jobs ({obj.service_failed_jobs} failed)"

    def has_add_permission(self, request):
        return False


@admin.register(MaintenanceRecord)
class MaintenanceRecordAdmin(admin.ModelAdmin):
    list_display = ["machine", "plan", "done_by", "done_at", "notes"]
    list_filter = ["plan"]
    readonly_fields = ["print_seconds_at"]


@admin.register(MaintenanceMode)
class MaintenanceModeAdmin(admin.ModelAdmin):
    list_display = ["machine", "state", "reason", "started_by", "started_at", "ended_at"]
    list_filter = ["automatic"]
    Media = BadgeMedia

    @admin.display(description="State")
    def state(self, obj):
        if obj.ended_at:
            return badge("ended", "secondary")
        return badge("automatic" if obj.automatic else "in maintenance", "danger")


@admin.register(OutOfOrderReport)
class OutOfOrderReportAdmin(admin.ModelAdmin):
    list_display = ["machine", "state", "reason", "reported_by", "reported_at", "resolved_at"]
    actions = ["resolve"]
    Media = BadgeMedia

    @admin.display(description="State")
    def state(self, obj):
        return badge("resolved", "success") if obj.resolved_at else badge("open", "danger")

    @admin.action(description="Resolve the selected reports")
    def resolve(self, request, queryset):
        done = 0
        for report in queryset.filter(resolved_at__isnull=True):
            out_of_order_resolve(report=report, user=request.user, resolution="resolved in the admin")
            done += 1
        self.message_user(request, f"{done} report(s) resolved.")
