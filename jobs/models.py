"""Print jobs, their audit trail, and the farm-wide queue's shared flags."""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.states import ACTIVE_STATES, QUEUE_STATES, ActorKind, JobState, in_declared_order


def job_upload_to(instance: Job, filename: str) -> str:
    """Files are named after the job, never after what the student called them."""
    suffix = PurePath(filename).suffix.lower()
    return f"jobs/{instance.created_at:%Y/%m}/{instance.id}{suffix}"


def job_thumbnail_upload_to(instance: Job, filename: str) -> str:
    """Next to the job's file: ``jobs/2026/12/<id>.thumb.png`` (or ``.jpg``)."""
    suffix = PurePath(filename).suffix.lower()
    return f"jobs/{instance.created_at:%Y/%m}/{instance.id}.thumb{suffix}"


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="print_jobs",
        help_text="Empty for external jobs started by hand at the printer.",
    )
    external = models.BooleanField(default=False, help_text="Started at the printer, not through Lab MES.")
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True)

    file = models.FileField(upload_to=job_upload_to, max_length=300, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=10, blank=True, help_text="gcode or bgcode")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The slicer's picture from the G-code header, checked at upload (jobs.thumbnails); served to the
    # owner and staff only, at /jobs/<id>/thumbnail/.
    thumbnail = models.FileField(upload_to=job_thumbnail_upload_to, max_length=300, blank=True)
    # The name the file has on the printer; it carries the job UUID so identity never depends on guessing.
    printer_file_name = models.CharField(max_length=255, db_index=True)

    # Constraints: where the job may print.
    machine_type = models.CharField(max_length=100, default="printer-3d")
    material = models.CharField(max_length=50, blank=True)
    colour = models.CharField(
        max_length=50, blank=True, help_text="Spool colour (name or #RRGGBB) the job asks for; empty: any."
    )
    nozzle_diameter = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True, help_text="The machine must carry every tag.")
    target_machine = models.ForeignKey(
        "machines.MachineConfig",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="targeted_jobs",
        help_text="Only this machine may print the job.",
    )

    priority = models.IntegerField(default=0, help_text="Higher runs first.")
    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.SUBMITTED)
    state_reason = models.TextField(blank=True)
    # Gapped integers; NULL when the job is not waiting in the queue.
    position = models.BigIntegerField(null=True, blank=True)
    machine = models.ForeignKey(
        "machines.MachineConfig",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="jobs",
        help_text="The machine the job was given to.",
    )
    progress = models.FloatField(null=True, blank=True)
    # A pause/resume/cancel the runtime must still deliver; cleared when the machine reports the result.
    requested_action = models.CharField(max_length=10, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    batch_id = models.UUIDField(null=True, blank=True, db_index=True)
    version = models.PositiveIntegerField(default=1)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-priority", "position", "created_at"]
        indexes = [
            models.Index(fields=["state", "-priority", "position"], name="job_queue_order"),
            # Every queue operation reads neighbours in one priority band of the waiting jobs.
            models.Index(
                fields=["priority", "position"],
                name="job_waiting_band",
                condition=models.Q(state__in=in_declared_order(QUEUE_STATES)),
            ),
            models.Index(fields=["state", "-finished_at"], name="job_history_order"),
            models.Index(fields=["owner", "state"], name="job_owner_state"),
            # The dashboard's utilisation: prints that started in a range of days.
            models.Index(fields=["started_at"], name="job_started_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["printer_file_name"],
                condition=models.Q(external=False),
                name="job_printer_file_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(external=True) | models.Q(owner__isnull=False),
                name="job_owner_unless_external",
            ),
            # A machine works on one job at a time, whoever (scheduler, reconciler) writes it.
            models.UniqueConstraint(
                fields=["machine"],
                condition=models.Q(state__in=in_declared_order(ACTIVE_STATES)),
                name="job_one_active_per_machine",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({str(self.id)[:8]})"


class JobEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        TRANSITION = "transition", "State change"
        REQUEST = "request", "Control request"
        UPDATE = "update", "Update"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    actor_kind = models.CharField(max_length=12, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        # The dashboard's queue waits: the dispatches in a range of days.
        indexes = [models.Index(fields=["to_state", "created_at"], name="jobevent_state_time")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_state or '∅'} → {self.to_state} ({self.actor_kind})"


class QueueState(models.Model):
    """The one row of queue-wide flags (pk=1). Queue writers lock it, which serialises queue changes."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    running = models.BooleanField(default=True, help_text="False: the scheduler dispatches nothing new.")
    stop_pending = models.BooleanField(default=False, help_text="Stop once the running jobs have finished.")
    locked = models.BooleanField(default=False)
    lock_note = models.TextField(blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    queue_version = models.BigIntegerField(default=1)
    history_version = models.BigIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "queue state"

    def __str__(self) -> str:
        return f"queue (v{self.queue_version}, {'running' if self.running else 'stopped'})"

    @property
    def dispatch_allowed(self) -> bool:
        return self.running and not self.stop_pending


def staged_upload_to(instance: StagedUpload, filename: str) -> str:
    """``staged/<id>.gcode``: one flat folder, so the clean-up can list what no preview names."""
    return f"staged/{instance.id}{PurePath(filename).suffix.lower()}"


def staged_thumbnail_upload_to(instance: StagedUpload, filename: str) -> str:
    return f"staged/{instance.id}.thumb{PurePath(filename).suffix.lower()}"


class StagedUpload(models.Model):
    """A file that passed the pre-flight and waits for its owner's "Confirm" on the submit page.

    The upload is stored once, here; confirming turns it into a Job (the file copied into the job's
    place, this row and its files deleted in the same commit), cancelling deletes it, and the periodic
    clean-up (``jobs.services.staging.staged_uploads_purge``) deletes what is never confirmed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to=staged_upload_to, max_length=300)
    thumbnail = models.FileField(upload_to=staged_thumbnail_upload_to, max_length=300, blank=True)
    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    # What the student asked for on the form (the Job's fields of the same names).
    name = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    machine_type = models.CharField(max_length=100, default="printer-3d")
    material = models.CharField(max_length=50, blank=True)
    colour = models.CharField(max_length=50, blank=True)
    nozzle_diameter = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["owner", "created_at"], name="staged_owner_created")]

    def __str__(self) -> str:
        return f"{self.original_name} (preview {str(self.id)[:8]})"

    @property
    def display_name(self) -> str:
        return self.name or self.original_name
