"""Admin for partner labs: approve with narrowed scopes and quotas, stop, invite, connect, follow events."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from federation.client import FederationError
from federation.models import (
    SCOPES,
    FederationEvent,
    ForwardedJob,
    InboxRecord,
    IncomingJob,
    Invitation,
    LocalKey,
    Partner,
    SeenNonce,
)
from federation.services.connections import (
    invitation_create,
    partner_approve,
    partner_connect,
    partner_reject,
    partner_stop,
)
from federation.services.jobs import forwarded_job_cancel, incoming_job_accept, incoming_job_reject
from federation.services.outbox import event_deliver
from mes.outgoing import OutgoingURLRefused, check_outgoing_url

DECISIONS = [("", "No decision (save settings only)"), ("approve", "Approve"), ("reject", "Reject")]


class PartnerForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=SCOPES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Tick only scopes the lab asked for; untick to narrow.",
    )
    decision = forms.ChoiceField(
        choices=DECISIONS,
        required=False,
        help_text="Approve sends the grant (scopes and quotas) to the partner; saving an approved partner "
        "sends the changed grant again.",
    )

    class Meta:
        model = Partner
        fields = [
            "scopes",
            "jobs_per_day",
            "max_print_hours",
            "share_all_machines",
            "shared_machines",
            "shared_tags",
            "auto_accept",
            "on_stop",
        ]

    def clean(self):
        data = super().clean()
        partner = self.instance
        beyond = sorted(set(data.get("scopes") or []) - set(partner.requested_scopes))
        if beyond:
            self.add_error("scopes", f"The lab did not ask for {beyond}; approval can only narrow.")
        approving = data.get("decision") == "approve" or partner.state == Partner.State.APPROVED
        if approving and not data.get("scopes") and data.get("decision") != "reject":
            self.add_error("scopes", "Grant at least one scope (or reject the request).")
        return data


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    form = PartnerForm
    list_display = ["name", "state", "scope_list", "outbound_state", "outbound_scope_list", "stopped_at"]
    list_filter = ["state", "outbound_state"]
    search_fields = ["name", "instance_id"]
    filter_horizontal = ["shared_machines"]
    actions = ["stop_and_notify", "stop_locally"]
    change_list_template = "admin/federation/partner/change_list.html"
    readonly_fields = [
        "name",
        "instance_id",
        "well_known_url",
        "api_base_url",
        "inbox_url",
        "state",
        "requested_scopes",
        "message",
        "requested_at",
        "decided_at",
        "decided_by",
        "user",
        "outbound_state",
        "outbound_requested_scopes",
        "outbound_scopes",
        "outbound_quotas",
        "stopped_at",
        "stopped_by",
        "stop_reason",
        "keys",
    ]
    fieldsets = [
        ("Lab", {"fields": ["name", "instance_id", "well_known_url", "api_base_url", "inbox_url", "keys"]}),
        (
            "Their request to use this lab",
            {
                "fields": [
                    "state",
                    "requested_scopes",
                    "message",
                    "requested_at",
                    "decided_at",
                    "decided_by",
                    "user",
                ]
            },
        ),
        (
            "Grant and quotas",
            {"fields": [*PartnerForm.Meta.fields, "decision"]},
        ),
        (
            "Our request to use their lab",
            {"fields": ["outbound_state", "outbound_requested_scopes", "outbound_scopes", "outbound_quotas"]},
        ),
        ("Stopped", {"fields": ["stopped_at", "stopped_by", "stop_reason"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # partners arrive through connection requests or "Connect to a lab"

    @admin.display(description="granted scopes")
    def scope_list(self, obj: Partner) -> str:
        return ", ".join(obj.scopes) or "—"

    @admin.display(description="scopes they granted us")
    def outbound_scope_list(self, obj: Partner) -> str:
        return ", ".join(obj.outbound_scopes) or "—"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        decision = data.get("decision")
        try:
            if decision == "reject":
                partner_reject(partner=Partner.objects.get(pk=obj.pk), by=request.user)
                messages.success(request, f"Rejected {obj}; the lab will be told.")
            elif decision == "approve" or obj.state == Partner.State.APPROVED:
                partner_approve(
                    partner=Partner.objects.get(pk=obj.pk),
                    by=request.user,
                    scopes=data["scopes"],
                    jobs_per_day=data["jobs_per_day"],
                    max_print_hours=data["max_print_hours"],
                    share_all_machines=data["share_all_machines"],
                    shared_machines=data["shared_machines"],
                    shared_tags=data["shared_tags"],
                    auto_accept=data["auto_accept"],
                    on_stop=data["on_stop"],
                )
                messages.success(
                    request, f"Approved {obj} for {', '.join(data['scopes'])}; the lab will be told."
                )
            else:
                super().save_model(request, obj, form, change)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))

    def save_related(self, request, form, formsets, change):
        form.instance.refresh_from_db()
        if form.cleaned_data.get("decision") != "reject":
            super().save_related(request, form, formsets, change)

    def _stop(self, request, queryset, *, notify: bool) -> None:
        for partner in queryset:
            try:
                _, notice = partner_stop(partner=partner, reason=f"stopped by {request.user}", notify=notify)
            except ValidationError as exc:
                messages.error(request, f"{partner}: {'; '.join(exc.messages)}")
                continue
            messages.warning(request, f"Federation with {partner} stopped; {notice}.")

    @admin.action(description="Stop federation (send a signed notice)")
    def stop_and_notify(self, request, queryset):
        self._stop(request, queryset, notify=True)

    @admin.action(description="Stop federation locally only (partner unreachable)")
    def stop_locally(self, request, queryset):
        self._stop(request, queryset, notify=False)

    def get_urls(self):
        return [
            path(
                "connect/", self.admin_site.admin_view(self.connect_view), name="federation_partner_connect"
            ),
            *super().get_urls(),
        ]

    def connect_view(self, request):
        """Enter another lab's invitation code and send it our signed connection request."""
        if not self.has_change_permission(request):
            return redirect("admin:index")
        form = ConnectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                partner = partner_connect(
                    partner_base_url=form.cleaned_data["base_url"],
                    code=form.cleaned_data["code"],
                    scopes=form.cleaned_data["scopes"],
                    message=form.cleaned_data["message"],
                )
            except (FederationError, ValidationError) as exc:
                messages.error(request, f"Connection request failed: {exc}")
            else:
                messages.success(
                    request, f"Connection request sent to {partner}; their staff must approve it."
                )
                return redirect(reverse("admin:federation_partner_change", args=[partner.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Connect to a partner lab",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/federation/partner/connect.html", context)


class ConnectForm(forms.Form):
    base_url = forms.URLField(
        label="Their Lab MES address", help_text="e.g. https://mes.other-lab.org", assume_scheme="https"
    )
    code = forms.CharField(label="Invitation code", max_length=200)
    scopes = forms.MultipleChoiceField(choices=SCOPES, widget=forms.CheckboxSelectMultiple)
    message = forms.CharField(widget=forms.Textarea, required=False, help_text="Shown to their staff.")

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"]
        try:
            check_outgoing_url(value)
        except OutgoingURLRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value


class InvitationForm(forms.ModelForm):
    days = forms.IntegerField(min_value=1, max_value=90, initial=7, help_text="Expires after this many days.")

    class Meta:
        model = Invitation
        fields = ["note"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "created_at", "expires_at", "used_at", "used_by", "is_usable"]
    readonly_fields = ["created_by", "created_at", "expires_at", "used_at", "used_by"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = InvitationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["note", "days"] if obj is None else ["note", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        invitation, code = invitation_create(
            note=form.cleaned_data["note"], days=form.cleaned_data["days"], created_by=request.user
        )
        obj.pk = invitation.pk
        messages.warning(request, f"Give this code to the other lab now, it is not shown again: {code}")
        return None


@admin.register(IncomingJob)
class IncomingJobAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "state", "size", "estimated_print_seconds", "created_at"]
    list_filter = ["state", "partner"]
    actions = ["accept", "reject"]
    readonly_fields = [f.name for f in IncomingJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Accept selected jobs")
    def accept(self, request, queryset):
        for incoming in queryset:
            try:
                incoming_job_accept(incoming=incoming, by=request.user)
            except ValidationError as exc:
                messages.error(request, f"{incoming}: {'; '.join(exc.messages)}")

    @admin.action(description="Reject selected jobs")
    def reject(self, request, queryset):
        for incoming in queryset:
            try:
                incoming_job_reject(incoming=incoming, by=request.user, reason=f"rejected by {request.user}")
            except ValidationError as exc:
                messages.error(request, f"{incoming}: {'; '.join(exc.messages)}")


@admin.register(ForwardedJob)
class ForwardedJobAdmin(admin.ModelAdmin):
    list_display = ["origin_job_id", "partner", "remote_state", "progress", "updated_at"]
    list_filter = ["remote_state", "partner"]
    readonly_fields = [f.name for f in ForwardedJob._meta.fields]
    actions = ["cancel"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Cancel at the partner lab")
    def cancel(self, request, queryset):
        for forwarded in queryset:
            try:
                forwarded_job_cancel(forwarded=forwarded)
            except FederationError as exc:
                messages.error(request, str(exc))


@admin.register(FederationEvent)
class FederationEventAdmin(admin.ModelAdmin):
    list_display = [
        "type",
        "partner",
        "job_ref",
        "sequence",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["type", "partner", ("delivered_at", admin.EmptyFieldListFilter)]
    readonly_fields = [f.name for f in FederationEvent._meta.fields]
    actions = ["deliver_now"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Deliver selected events now")
    def deliver_now(self, request, queryset):
        sent = sum(event_deliver(event=event) for event in queryset.filter(delivered_at__isnull=True))
        messages.info(request, f"{sent} delivered; run `manage.py federation_deliver` for all due events.")


@admin.register(InboxRecord)
class InboxRecordAdmin(admin.ModelAdmin):
    list_display = ["type", "partner", "job_ref", "sequence", "received_at"]
    readonly_fields = [f.name for f in InboxRecord._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SeenNonce)
class SeenNonceAdmin(admin.ModelAdmin):
    list_display = ["key_id", "nonce", "expires_at"]
    readonly_fields = ["key_id", "nonce", "expires_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(LocalKey)
class LocalKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "created_at", "retired_at"]
    readonly_fields = ["kid", "public_key", "created_at", "retired_at"]

    def has_add_permission(self, request) -> bool:
        return False  # `manage.py federation_rotate_key` writes the private key file
