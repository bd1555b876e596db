"""Admin: trainings and their requirements, training records (CSV import; *Record a training* on the
users list), machine policies, opening hours, closures and quotas."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from policies.exceptions import PolicyError
from policies.models import (
    Closure,
    JobOverride,
    MachinePolicy,
    OpeningHours,
    Quota,
    Training,
    TrainingRecord,
    TrainingRequirement,
)
from policies.services import training_record_bulk, training_records_import_csv


class RequirementInline(admin.TabularInline):
    model = TrainingRequirement
    extra = 1


@admin.register(Training)
class TrainingAdmin(admin.ModelAdmin):
    list_display = ["name", "given_by", "required_for"]
    search_fields = ["name", "given_by"]
    inlines = [RequirementInline]

    @admin.display(description="Required for")
    def required_for(self, obj):
        return ", ".join(
            r.machine.name if r.machine_id else f"every {r.machine_type}"
            for r in obj.requirements.select_related("machine")
        )


class CsvImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: username, training, completed_on, and optionally trainer, "
        "expires_on, notes."
    )


@admin.register(TrainingRecord)
class TrainingRecordAdmin(admin.ModelAdmin):
    list_display = ["user", "training", "completed_on", "expires_on", "trainer_display", "recorded_at"]
    list_filter = ["training", "completed_on", "expires_on"]
    search_fields = [
        "user__username",
        "user__first_name",
        "user__last_name",
        "training__name",
        "trainer_name",
    ]
    autocomplete_fields = ["user", "trainer"]
    date_hierarchy = "completed_on"
    change_list_template = "admin/policies/trainingrecord_change_list.html"

    @admin.display(description="Trainer")
    def trainer_display(self, obj):
        return obj.trainer_display

    def get_urls(self):
        return [
            path(
                "import/", self.admin_site.admin_view(self.import_view), name="policies_trainingrecord_import"
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        form = CsvImportForm(request.POST or None, request.FILES or None)
        errors: list = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            limit = settings.POLICIES_CSV_MAX_BYTES
            if upload.size > limit:
                form.add_error("file", f"the CSV is larger than {limit} bytes")
            else:
                try:
                    created = training_records_import_csv(text=upload.read().decode("utf-8"))
                except UnicodeDecodeError:
                    form.add_error("file", "the CSV is not UTF-8 text")
                except PolicyError as exc:
                    form.add_error("file", exc.message)
                    errors = getattr(exc, "rows", [])
                else:
                    self.message_user(request, f"{len(created)} training record(s) imported.")
                    return redirect("admin:policies_trainingrecord_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": errors,
            "title": "Import training records from CSV",
            "opts": self.model._meta,
        }
        return render(
            request, "admin/policies/import.html", context, status=400 if errors or form.errors else 200
        )


@admin.register(MachinePolicy)
class MachinePolicyAdmin(admin.ModelAdmin):
    list_display = ["machine", "unattended_allowed"]
    list_editable = ["unattended_allowed"]


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ["weekday", "opens", "closes"]
    list_filter = ["weekday"]


@admin.register(Closure)
class ClosureAdmin(admin.ModelAdmin):
    list_display = ["start_date", "end_date", "reason"]
    date_hierarchy = "start_date"


@admin.register(JobOverride)
class JobOverrideAdmin(admin.ModelAdmin):
    list_display = ["job_id", "ignore_opening_hours", "reason", "created_by", "created_at"]
    search_fields = ["job_id", "reason"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["__str__", "period", "term_start", "term_end", "max_hours", "max_grams"]
    list_filter = ["period", "group"]
    autocomplete_fields = ["user"]


# -- "Record a training" on the users list -----------------------------------------------------------
class RecordTrainingForm(forms.Form):
    training = forms.ModelChoiceField(queryset=Training.objects.all())
    completed_on = forms.DateField(initial=lambda: timezone.localdate(), help_text="YYYY-MM-DD")
    trainer_name = forms.CharField(required=False, help_text="Empty: you are recorded as the trainer.")
    expires_on = forms.DateField(required=False, help_text="Empty: never expires.")


@admin.action(description="Record a training for the selected users")
def record_training(modeladmin, request, queryset):
    users = list(queryset)
    form = RecordTrainingForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            records = training_record_bulk(
                users=users,
                training=data["training"],
                completed_on=data["completed_on"],
                trainer=None if data["trainer_name"] else request.user,
                trainer_name=data["trainer_name"],
                expires_on=data["expires_on"],
            )
        except PolicyError as exc:
            modeladmin.message_user(request, exc.message, level=messages.ERROR)
            return None
        modeladmin.message_user(request, f"{data['training']} recorded for {len(records)} user(s).")
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "form": form,
        "users": users,
        "title": "Record a training",
        "opts": modeladmin.model._meta,
    }
    return render(request, "admin/policies/record_training.html", context)


def _add_user_action() -> None:
    user_model = get_user_model()
    current = admin.site._registry.get(user_model)
    if current is None:
        return
    base = type(current)
    if record_training in (base.actions or []):
        return
    extended = type(base.__name__, (base,), {"actions": [*(base.actions or []), record_training]})
    admin.site.unregister(user_model)
    admin.site.register(user_model, extended)


_add_user_action()
