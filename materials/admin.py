"""Admin: material types with stock, spools with where they are and how much is left (badges), load
history inline, a "print labels" action and a CSV import page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from machines.admin import BADGE_COLOURS
from materials.exceptions import MaterialsError
from materials.labels import spool_labels
from materials.models import MaterialType, Spool, SpoolDeduction, SpoolLoad
from materials.selectors import spool_current_load, spool_delete_refusal, spool_list, stock_by_material
from materials.services import spool_delete, spool_load, spool_unload, spools_import_csv


def badge(text: str, colour: str) -> str:
    """A status badge styled by mes/admin-badges.css (no inline style: the pages run under a CSP)."""
    if colour not in BADGE_COLOURS:
        raise ValueError(f"unknown badge colour {colour!r}")
    return format_html('<span class="mes-badge mes-badge-{}">{}</span>', colour, text)


class BadgeMedia:
    css = {"all": ["mes/admin-badges.css"]}


@admin.register(MaterialType)
class MaterialTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "density", "diameter", "low_stock_grams", "stock"]
    search_fields = ["name"]
    Media = BadgeMedia

    def changelist_view(self, request, extra_context=None):
        self._stock = {row["material"].pk: row for row in stock_by_material()}
        return super().changelist_view(request, extra_context)

    @admin.display(description="In stock")
    def stock(self, obj):
        row = getattr(self, "_stock", {}).get(obj.pk)
        if row is None:
            return "—"
        text = f"{row['remaining_grams']:.0f} g"
        return badge(f"{text} · low", "warning") if row["low_stock"] else badge(text, "success")


class SpoolLoadInline(admin.TabularInline):
    model = SpoolLoad
    extra = 0
    can_delete = False
    fields = ["machine", "tool", "loaded_at", "loaded_by", "unloaded_at", "unloaded_by"]
    readonly_fields = fields
    verbose_name_plural = "load history (load and unload under Spool loads, or through the API)"

    def has_add_permission(self, request, obj=None):
        return False


class CsvImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: material, initial_grams, and optionally "
        "colour_name, colour_hex, vendor, remaining_grams, lot, cost_per_kg, location, label_id."
    )


@admin.register(Spool)
class SpoolAdmin(admin.ModelAdmin):
    list_display = ["__str__", "material", "colour", "vendor", "remaining", "where", "label_id", "archived"]
    list_filter = ["material", "archived", "vendor"]
    search_fields = ["colour_name", "vendor", "lot", "label_id"]
    inlines = [SpoolLoadInline]
    actions = ["print_labels", "archive"]
    change_list_template = "admin/materials/spool/change_list.html"
    Media = BadgeMedia

    def get_queryset(self, request):
        return spool_list()

    @admin.display(description="Colour")
    def colour(self, obj):
        if not obj.colour_hex:
            return obj.colour_name or "—"
        return format_html(
            '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
            '<circle cx="6" cy="6" r="5.5" fill="{}" stroke="#555"/></svg> {}',
            obj.colour_hex,
            obj.colour_name,
        )

    @admin.display(description="Remaining", ordering="remaining_grams")
    def remaining(self, obj):
        share = float(obj.remaining_grams / obj.initial_grams) if obj.initial_grams else 0.0
        colour = "danger" if obj.remaining_grams <= 0 else "warning" if share < 0.15 else "success"
        return badge(f"{obj.remaining_grams:.0f} g ({share:.0%})", colour)

    @admin.display(description="Where")
    def where(self, obj):
        load = spool_current_load(obj)
        if load is not None:
            return badge(f"{load.machine.name} T{load.tool}", "primary")
        return obj.location or "—"

    @admin.action(description="Print labels for the selected spools")
    def print_labels(self, request, queryset):
        spools = list(queryset.select_related("material").order_by("pk"))
        return TemplateResponse(
            request,
            "materials/labels.html",
            {"labels": spool_labels(spools), "back": reverse("admin:materials_spool_changelist")},
        )

    @admin.action(description="Archive the selected spools (used up)")
    def archive(self, request, queryset):
        count = queryset.update(archived=True)
        self.message_user(request, f"{count} spool(s) archived.")

    def delete_view(self, request, object_id, extra_context=None):
        """A spool in use is refused with the service's reason (loaded: unload it; used: archive it)."""
        spool = self.get_object(request, unquote(object_id))
        refusal = spool_delete_refusal(spool) if spool is not None else None
        if refusal is None or not self.has_delete_permission(request, spool):
            return super().delete_view(request, object_id, extra_context)
        self.message_user(request, f"Cannot delete: {refusal}.", level=messages.ERROR)
        return redirect("admin:materials_spool_change", spool.pk)

    def get_deleted_objects(self, objs, request):
        """Spools that may go take their load history along (the service deletes it): no permission on
        load rows is needed for them. Any spool in use keeps Django's refusal."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if not any(spool_delete_refusal(spool) for spool in objs):
            perms_needed, protected = set(), []
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        try:
            spool_delete(spool=obj)
        except MaterialsError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)

    def delete_queryset(self, request, queryset):
        for spool in queryset:
            self.delete_model(request, spool)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="materials_spool_import"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        form = CsvImportForm(request.POST or None, request.FILES or None)
        errors: list = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > settings.MATERIALS_CSV_MAX_BYTES:
                form.add_error("file", f"the CSV is larger than {settings.MATERIALS_CSV_MAX_BYTES} bytes")
            else:
                try:
                    created = spools_import_csv(text=upload.read().decode("utf-8"))
                except UnicodeDecodeError:
                    form.add_error("file", "the CSV is not UTF-8 text")
                except MaterialsError as exc:
                    form.add_error("file", exc.message)
                    errors = exc.extra.get("errors") or []
                else:
                    self.message_user(request, f"{len(created)} spool(s) imported.")
                    return redirect("admin:materials_spool_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": errors,
            "title": "Import spools from CSV",
            "opts": self.model._meta,
        }
        return render(
            request,
            "admin/materials/spool/import.html",
            context,
            status=400 if errors or form.errors else 200,
        )


@admin.register(SpoolDeduction)
class SpoolDeductionAdmin(admin.ModelAdmin):
    list_display = ["job_id", "tool", "spool", "machine", "grams", "note", "created_at"]
    search_fields = ["job_id"]
    readonly_fields = [f.name for f in SpoolDeduction._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SpoolLoadForm(forms.ModelForm):
    """Load a spool from the admin; the service refuses a spool loaded elsewhere (shown on the form)."""

    class Meta:
        model = SpoolLoad
        fields = ["spool", "machine", "tool"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        data = super().clean()
        spool, machine = data.get("spool"), data.get("machine")
        if spool is not None and machine is not None and not self.errors:
            try:
                self.instance = spool_load(
                    spool=spool, machine=machine, tool=data.get("tool") or 0, user=self.request.user
                )
            except MaterialsError as exc:
                raise forms.ValidationError(exc.message) from exc
        return data

    def save(self, commit=True):
        self.save_m2m = lambda: None  # no many-to-many fields; the admin calls it after save_model
        return self.instance  # spool_load wrote it (and swapped out a spool on the same tool)


@admin.register(SpoolLoad)
class SpoolLoadAdmin(admin.ModelAdmin):
    """Loads: add one to load a spool (history kept); "Unload" takes the selected spools off."""

    form = SpoolLoadForm
    list_display = [
        "spool",
        "machine",
        "tool",
        "state",
        "loaded_at",
        "loaded_by",
        "unloaded_at",
        "unloaded_by",
    ]
    list_filter = ["machine", ("unloaded_at", admin.EmptyFieldListFilter)]
    actions = ["unload"]
    Media = BadgeMedia

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return RequestForm

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        pass  # saved by the service in the form's clean()

    @admin.display(description="State")
    def state(self, obj):
        return badge("unloaded", "secondary") if obj.unloaded_at else badge("loaded", "primary")

    @admin.action(description="Unload the selected spools")
    def unload(self, request, queryset):
        done = 0
        for load in queryset.filter(unloaded_at__isnull=True):
            spool_unload(spool=load.spool_id, user=request.user)
            done += 1
        self.message_user(request, f"{done} spool(s) unloaded.")
