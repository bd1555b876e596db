"""Admin: the queue with state badges, stage filters, position actions, approval, pause, resume, cancel,
links to the job's and machine's pages, and each job's history inline with who took each step.

Every action goes through jobs.services, so the admin obeys the same rules (transitions, lock, versions).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils.html import format_html

from jobs import services
from jobs.exceptions import JobError
from jobs.job_page import actor_label
from jobs.models import Job, JobEvent, QueueState
from jobs.states import ACTIVE_STATES, QUEUE_STATES, STATE_COLOURS, TERMINAL_STATES, JobState
from machines.admin import BADGE_COLOURS


def state_badge(state: str) -> str:
    """The state as a coloured badge with its name (colour is never the only cue)."""
    colour = STATE_COLOURS.get(state, "secondary")
    if colour not in BADGE_COLOURS:
        raise ValueError(f"unknown badge colour {colour!r}")
    label = dict(JobState.choices).get(state, state)
    return format_html('<span class="mes-badge mes-badge-{}">{}</span>', colour, label)


class StageFilter(admin.SimpleListFilter):
    """Where a job is in its life: waiting, on a machine, over (a coarser cut than the state)."""

    title = "stage"
    parameter_name = "stage"
    STAGES = {
        "waiting": ("Waiting (queue or approval)", QUEUE_STATES | {JobState.SUBMITTED}),
        "on_machine": ("On a machine", ACTIVE_STATES),
        "over": ("Finished, failed or cancelled", TERMINAL_STATES),
        "forwarded": ("At a partner lab", frozenset({JobState.FORWARDED})),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.STAGES.items()]

    def queryset(self, request, queryset):
        stage = self.STAGES.get(self.value() or "")
        return queryset.filter(state__in=stage[1]) if stage else queryset


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "from_state", "to_state", "who", "actor_kind", "reason", "extra"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="Who")
    def who(self, event: JobEvent) -> str:
        """The person's name, or scheduler, printer, system… (as on the job page's timeline)."""
        return actor_label(event)

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
    class Media:
        css = {"all": ["mes/admin-badges.css"]}  # badges without inline styles (the CSP allows none)

    list_display = [
        "name",
        "owner",
        "state_display",
        "priority",
        "position",
        "machine_link",
        "progress_display",
        "created_at",
        "page_link",
    ]
    list_filter = [StageFilter, "state", "external", "machine", "material", "file_format", "machine_type"]
    list_select_related = ["owner", "machine"]
    search_fields = ["id", "name", "original_name", "owner__username", "printer_file_name", "sha256"]
    date_hierarchy = "created_at"
    inlines = [JobEventInline]
    actions = ["move_to_front", "move_to_back", "approve", "pause", "resume", "cancel"]
    readonly_fields = ["pages", *(f.name for f in Job._meta.fields)]

    def view_on_site(self, job: Job) -> str:
        """The admin's "View on site" button opens the job's page."""
        return reverse("jobs:detail", args=[job.pk])

    @admin.display(description="State", ordering="state")
    def state_display(self, job: Job) -> str:
        return state_badge(job.state)

    @admin.display(description="Progress", ordering="progress")
    def progress_display(self, job: Job) -> str:
        return "—" if job.progress is None else f"{job.progress:.0f} %"

    @admin.display(description="Machine", ordering="machine__name")
    def machine_link(self, job: Job) -> str:
        if job.machine is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("machine:detail", args=[job.machine_id]), job.machine.name
        )

    @admin.display(description="Page")
    def page_link(self, job: Job) -> str:
        return format_html('<a href="{}">job page</a>', reverse("jobs:detail", args=[job.pk]))

    @admin.display(description="Pages")
    def pages(self, job: Job) -> str:
        """Links to the pages people use: the job's (timeline, camera) and its machine's."""
        links = [format_html('<a href="{}">Job page</a>', reverse("jobs:detail", args=[job.pk]))]
        if job.machine_id:
            links.append(
                format_html('<a href="{}">Machine page</a>', reverse("machine:detail", args=[job.machine_id]))
            )
        return format_html(" · ".join(["{}"] * len(links)), *links)

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

    @admin.action(description="Pause (on a machine: request)")
    def pause(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            "Pause requested",
            lambda job: services.job_request_pause(job=job, user=request.user, reason="paused in admin"),
        )

    @admin.action(description="Resume (on a machine: request)")
    def resume(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            "Resume requested",
            lambda job: services.job_request_resume(job=job, user=request.user, reason="resumed in admin"),
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
