"""Admin: the queue with position actions, approval, cancel, and each job's history inline.

Every action goes through jobs.services, so the admin obeys the same rules (transitions, lock, versions).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from jobs import services
from jobs.exceptions import JobError
from jobs.models import Job, JobEvent, QueueState


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "from_state", "to_state", "actor_kind", "actor", "reason", "extra"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _run(modeladmin, request, queryset, label: str, fn) -> None:
    done = 0
    for job in queryset:
        try:
            fn(job)
            done += 1
        except JobError as exc:
            modeladmin.message_user(request, f"{job}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{label}: {done} job(s).", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "state", "priority", "position", "machine", "progress", "created_at"]
    list_filter = ["state", "external", "owner", "machine", "file_format"]
    search_fields = ["id", "name", "original_name", "owner__username", "printer_file_name", "sha256"]
    date_hierarchy = "created_at"
    inlines = [JobEventInline]
    actions = ["move_to_front", "move_to_back", "approve", "cancel"]
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False  # jobs are submitted with a file through the API or pages

    def has_change_permission(self, request, obj=None):
        return False  # state and position change only through the actions (services)

    @admin.action(description="Move to the front of the queue (in order)")
    def move_to_front(self, request, queryset):
        waiting = list(queryset.order_by("-priority", "position"))
        try:
            services.queue_move_batch(
                jobs=waiting, location=services.Location(pos="front"), user=request.user
            )
            self.message_user(request, f"Moved {len(waiting)} job(s) to the front.", messages.SUCCESS)
        except JobError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Move to the back of the queue (in order)")
    def move_to_back(self, request, queryset):
        waiting = list(queryset.order_by("-priority", "position"))
        try:
            services.queue_move_batch(jobs=waiting, location=services.Location(pos="back"), user=request.user)
            self.message_user(request, f"Moved {len(waiting)} job(s) to the back.", messages.SUCCESS)
        except JobError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Approve")
    def approve(self, request, queryset):
        _run(
            self, request, queryset, "Approved", lambda job: services.job_approve(job=job, user=request.user)
        )

    @admin.action(description="Cancel (waiting: at once; on a machine: request)")
    def cancel(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            "Cancelled or cancel requested",
            lambda job: services.job_request_cancel(job=job, user=request.user, reason="cancelled in admin"),
        )


class QueueActionForm(ActionForm):
    note = forms.CharField(required=False, label="Note", help_text="Why the queue is locked (to lock it).")


@admin.register(QueueState)
class QueueStateAdmin(admin.ModelAdmin):
    list_display = ["__str__", "running", "stop_pending", "locked", "lock_note", "locked_by", "queue_version"]
    readonly_fields = [
        "running",
        "stop_pending",
        "locked",
        "lock_note",
        "locked_by",
        "locked_at",
        "queue_version",
        "history_version",
    ]
    actions = ["start", "stop", "lock", "unlock"]
    action_form = QueueActionForm

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Lock the queue (say why in the note)")
    def lock(self, request, queryset):
        try:
            services.queue_lock(user=request.user, note=request.POST.get("note", ""))
        except JobError as exc:
            self.message_user(request, f"The queue was not locked: {exc.message}.", messages.ERROR)
            return
        self.message_user(request, "The queue is locked: nothing can be added, moved or removed.")

    @admin.action(description="Start dispatching")
    def start(self, request, queryset):
        services.queue_start(user=request.user)

    @admin.action(description="Stop (after running jobs finish)")
    def stop(self, request, queryset):
        services.queue_stop(user=request.user)

    @admin.action(description="Unlock the queue")
    def unlock(self, request, queryset):
        services.queue_unlock(user=request.user)
