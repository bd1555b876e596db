"""Federation: this lab's identity, partner labs, invitations, signed events and replay protection.

A ``Partner`` is one remote Lab MES instance. The relation has two directions that are approved
separately: *inbound* (the partner uses our machines; our staff approve it) and *outbound* (we use
theirs; their staff approve it and tell us through a signed event). Stopping ends both directions.
Private keys never live in the database: ``LocalKey`` holds only the public half; the private half
is a 0600 file in ``FEDERATION_KEY_DIR``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

SCOPES = [
    ("machines:read", "See the machines this lab shares, their state and queue"),
    ("stats:read", "See statistics about jobs this lab printed for the partner"),
    ("jobs:submit", "Forward print jobs to this lab"),
    ("jobs:read", "Follow the jobs forwarded to this lab"),
]
SCOPE_NAMES = [name for name, _ in SCOPES]


class LocalInstance(models.Model):
    """This installation's federation identity (a single row, created on first use)."""

    instance_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "local federation identity"

    def __str__(self) -> str:
        return str(self.instance_id)


class LocalKey(models.Model):
    """A public signing key of this lab. Several are published at once; the newest active one signs."""

    kid = models.CharField(max_length=40, unique=True, help_text="Short key id, unique in this lab.")
    public_key = models.CharField(max_length=64, help_text="Raw Ed25519 public key, base64url.")
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="No longer published or used; partners stop accepting it."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "local signing key"

    def __str__(self) -> str:
        return self.kid


class Invitation(models.Model):
    """A single-use code that lets one lab send a connection request. Only its SHA-256 is stored."""

    code_digest = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Which lab the code was given to.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    used_by = models.ForeignKey(
        "Partner",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or f"invitation {self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class Partner(models.Model):
    class State(models.TextChoices):
        NONE = "none", "No request"
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class OutboundState(models.TextChoices):
        NONE = "none", "Not requested"
        REQUESTED = "requested", "Requested, waiting for their approval"
        APPROVED = "approved", "Approved by them"
        REJECTED = "rejected", "Rejected by them"

    class OnStop(models.TextChoices):
        FINISH = "finish", "Accepted jobs finish"
        CANCEL = "cancel", "Accepted jobs are cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance_id = models.UUIDField(unique=True, help_text="The partner lab's instance id.")
    name = models.CharField(max_length=200)
    well_known_url = models.URLField(max_length=500)
    api_base_url = models.URLField(max_length=500)
    inbox_url = models.URLField(max_length=500, help_text="Where our signed events go; fixed at approval.")
    keys = models.JSONField(default=dict, help_text="Key id → raw Ed25519 public key (base64url).")
    keys_fetched_at = models.DateTimeField(null=True, blank=True)

    # Inbound: the partner uses this lab.
    state = models.CharField(max_length=10, choices=State.choices, default=State.NONE)
    requested_scopes = models.JSONField(default=list, blank=True)
    scopes = models.JSONField(default=list, blank=True, help_text="Scopes granted to the partner.")
    message = models.TextField(blank=True, help_text="What the partner wrote with its request.")
    requested_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="federation_partner",
        help_text="Service account that owns the partner's jobs in this lab.",
    )
    jobs_per_day = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    max_print_hours = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Longest job accepted. Empty: no limit.",
    )
    share_all_machines = models.BooleanField(default=False)
    shared_machines = models.ManyToManyField("machines.MachineConfig", blank=True, related_name="+")
    shared_tags = models.JSONField(
        default=list, blank=True, help_text="Machines carrying any of these tags are shared too."
    )
    auto_accept = models.BooleanField(default=False, help_text="Accept forwarded jobs without staff review.")
    on_stop = models.CharField(max_length=10, choices=OnStop.choices, default=OnStop.FINISH)

    # Outbound: this lab uses the partner.
    outbound_state = models.CharField(
        max_length=10, choices=OutboundState.choices, default=OutboundState.NONE
    )
    outbound_requested_scopes = models.JSONField(default=list, blank=True)
    outbound_scopes = models.JSONField(default=list, blank=True, help_text="Scopes the partner granted us.")
    outbound_quotas = models.JSONField(default=dict, blank=True)

    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(max_length=10, blank=True, help_text="'local' or 'remote'.")
    stop_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_stopped(self) -> bool:
        return self.stopped_at is not None


class FederationEvent(models.Model):
    """Outbox: a signed event for a partner, delivered with retry and exponential backoff."""

    class Type(models.TextChoices):
        CONNECTION_APPROVED = "connection.approved"
        CONNECTION_REJECTED = "connection.rejected"
        CONNECTION_STOPPED = "connection.stopped"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        QUEUED = "queued"
        PRINTING = "printing"
        PAUSED = "paused"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="outbox")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job_ref = models.CharField(
        max_length=64, blank=True, help_text="Origin job uuid; empty for connection events."
    )
    sequence = models.PositiveIntegerField(help_text="Per partner and job, starting at 1.")
    type = models.CharField(max_length=30, choices=Type.choices)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        default=timezone.now, null=True, blank=True, db_index=True, help_text="Empty: delivery gave up."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "sequence"]
        verbose_name = "outbox event"
        constraints = [
            models.UniqueConstraint(fields=["partner", "job_ref", "sequence"], name="unique_event_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.sequence} → {self.partner}"


class InboxRecord(models.Model):
    """The last event seen per partner and job, and every event id, so duplicates and stale events drop."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="inbox")
    event_id = models.UUIDField(unique=True)
    job_ref = models.CharField(max_length=64, blank=True)
    sequence = models.PositiveIntegerField()
    type = models.CharField(max_length=30)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "received event"

    def __str__(self) -> str:
        return f"{self.type} #{self.sequence} from {self.partner}"


class ForwardedJob(models.Model):
    """Our view of a job we forwarded to a partner: their state, progress and history."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="forwarded_jobs")
    origin_job_id = models.UUIDField(
        unique=True, help_text="Our job's uuid (jobs.Job id), also its id there."
    )
    remote_state = models.CharField(max_length=30, default="pending", help_text="Their last reported state.")
    progress = models.FloatField(null=True, blank=True)
    last_sequence = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True, help_text="Every event applied, oldest first.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.origin_job_id} at {self.partner}"


class IncomingJob(models.Model):
    """A job a partner forwarded to us: the idempotency record of its PUT and its decision."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending acceptance"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="incoming_jobs")
    origin_job_id = models.UUIDField()
    request_digest = models.CharField(max_length=64, help_text="SHA-256 of the PUT body, for idempotency.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(default=dict)
    name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)
    file = models.FileField(upload_to="federation/incoming/", max_length=300, blank=True)
    constraints = models.JSONField(default=dict, blank=True)
    requester_ref = models.CharField(max_length=200, blank=True)
    estimated_print_seconds = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    state_reason = models.CharField(max_length=300, blank=True)
    local_job_id = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="The job in our queue once accepted (jobs.Job id)."
    )
    printed_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "origin_job_id"], name="unique_incoming_job"),
        ]

    def __str__(self) -> str:
        return f"{self.name} from {self.partner}"


class SeenNonce(models.Model):
    """Nonces of accepted signatures, kept until the signature would have expired anyway."""

    key_id = models.CharField(max_length=120)
    nonce = models.CharField(max_length=120)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key_id", "nonce"], name="unique_seen_nonce")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.nonce}"
