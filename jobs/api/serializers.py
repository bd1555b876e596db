from __future__ import annotations

from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import Job, JobEvent, QueueState
from jobs.preflight import JobConstraints
from jobs.selectors import JobControls, job_controls, queue_waiting_reasons
from jobs.services import JobSpec, Location
from jobs.states import JobState
from machines.models import MachineConfig
from mes.api.query import MAX_INT


class PosField(serializers.Field):
    """'front', 'back' or an integer index (negative counts from the back)."""

    default_error_messages = {"invalid": "pos must be 'front', 'back' or an integer"}

    def to_internal_value(self, data):
        if data in ("front", "back"):
            return data
        try:
            return int(data)
        except (TypeError, ValueError):
            self.fail("invalid")

    def to_representation(self, value):
        return value


extend_schema_field({"oneOf": [{"type": "string", "enum": ["front", "back"]}, {"type": "integer"}]})(PosField)


class LocationSerializer(serializers.Serializer):
    pos = PosField(
        required=False, allow_null=True, help_text="'front', 'back' (default) or an index; -1 is last"
    )
    before_uid = serializers.UUIDField(required=False, allow_null=True)
    after_uid = serializers.UUIDField(required=False, allow_null=True)

    def validate(self, attrs):
        given = [k for k in ("pos", "before_uid", "after_uid") if attrs.get(k) is not None]
        if len(given) > 1:
            raise serializers.ValidationError(
                f"give only one of pos, before_uid, after_uid (got {', '.join(given)})"
            )
        return attrs

    def location(self) -> Location:
        data = self.validated_data
        return Location(pos=data.get("pos"), before=data.get("before_uid"), after=data.get("after_uid"))


class JobOptionsSerializer(serializers.Serializer):
    """What a submitter may say about a job besides the file."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.IntegerField(required=False, default=0, min_value=-100, max_value=100)
    machine_type = serializers.CharField(required=False, default="printer-3d", max_length=100)
    material = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    colour = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=50,
        help_text="Spool colour name or #RRGGBB; only machines with that colour loaded take the job.",
    )
    nozzle_diameter = serializers.DecimalField(
        required=False, allow_null=True, default=None, max_digits=4, decimal_places=2, min_value=0
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)
    target_machine = serializers.PrimaryKeyRelatedField(
        queryset=MachineConfig.objects.all(), required=False, allow_null=True, default=None
    )

    def constraints(self, data: dict | None = None) -> JobConstraints:
        data = data if data is not None else self.validated_data
        target = data.get("target_machine")
        return JobConstraints(
            machine_type=target.machine_type if target else data.get("machine_type", "printer-3d"),
            material=data.get("material", ""),
            colour=data.get("colour", "").strip(),
            nozzle_diameter=data.get("nozzle_diameter"),
            tags=tuple(data.get("tags") or ()),
            target_machine_id=str(target.pk) if target else None,
        )


class StrictFormMixin:
    """Upload forms say what they did not understand, where DRF would quietly drop it: a field that takes
    one value and comes more than once (``priority=1&priority=2``; DRF keeps the last), and a field the
    form does not have (a typo such as ``priorty`` would otherwise be ignored)."""

    def to_internal_value(self, data):
        if isinstance(data, QueryDict):
            errors = {
                name: f"send one value, not {count}"
                for name, field in self.fields.items()
                if not isinstance(field, serializers.ListField | serializers.MultipleChoiceField)
                and (count := len(data.getlist(name))) > 1
            }
            errors |= {
                name[:100]: f"not a field of this form (its fields: {', '.join(self.fields)})"
                for name in data
                if name not in self.fields
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class JobSubmitSerializer(StrictFormMixin, JobOptionsSerializer, LocationSerializer):
    file = serializers.FileField(help_text="G-code (.gcode, .gco, .g) or binary G-code (.bgcode)")

    def spec(self) -> JobSpec:
        """What was sent, as the submission services take it (call after ``is_valid``)."""
        data = self.validated_data
        return JobSpec(
            file=data["file"],
            name=data.get("name", ""),
            notes=data.get("notes", ""),
            priority=data.get("priority", 0),
            constraints=self.constraints(),
        )


class JobBatchSubmitSerializer(StrictFormMixin, LocationSerializer):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
    items = serializers.JSONField(
        required=False, help_text="Optional list, one object per file: name, notes, priority, constraints"
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        items = attrs.get("items")
        files = attrs["files"]
        if items is None:
            attrs["items"] = [{} for _ in files]
        elif not isinstance(items, list) or len(items) != len(files):
            raise serializers.ValidationError({"items": f"give a list of {len(files)} objects, one per file"})
        options = JobOptionsSerializer(data=attrs["items"], many=True)
        options.is_valid(raise_exception=True)
        attrs["options"] = options.validated_data
        return attrs


class EstimateSerializer(serializers.Serializer):
    start = serializers.DateTimeField(allow_null=True, help_text="Printing jobs: when the print started.")
    finish = serializers.DateTimeField(allow_null=True)
    machine = serializers.CharField(help_text="Waiting jobs: the machine the forecast puts it on.")
    note = serializers.CharField(help_text='Why there are no times, or e.g. "after staff approval".')


class JobSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Empty for external jobs."
    )
    machine = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="The machine's name, once given one."
    )
    target_machine = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    queue_index = serializers.SerializerMethodField(help_text="0-based place in the farm-wide queue")
    waiting_reason = serializers.SerializerMethodField(
        help_text='Why no machine can take a queued job now, e.g. "waiting: no loaded PETG spool with ≥ 42 g".'
    )
    filament_need = serializers.SerializerMethodField(
        help_text="Grams per tool read from the slicer comments; known=false: need unknown."
    )
    controls = serializers.SerializerMethodField(
        help_text="Which control actions the job offers now: can_pause, can_resume, can_cancel."
    )
    estimate = serializers.SerializerMethodField(
        help_text="Waiting and printing jobs, in the job's detail and the queue: estimated start and finish "
        "(the queue simulated forward over machines, opening hours, trainings and quotas); null otherwise."
    )
    thumbnail_url = serializers.SerializerMethodField(
        help_text="URL of the slicer's picture (PNG or JPEG; owner and staff, same login; absolute when "
        "the request is known), or null when the file has none (metadata.thumbnail.note says why)."
    )
    page_url = serializers.SerializerMethodField(help_text="The job's page for people (/jobs/<id>/).")

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "notes",
            "owner",
            "external",
            "state",
            "state_reason",
            "priority",
            "position",
            "queue_index",
            "machine",
            "progress",
            "requested_action",
            "controls",
            "original_name",
            "file_format",
            "size",
            "sha256",
            "metadata",
            "printer_file_name",
            "machine_type",
            "material",
            "colour",
            "filament_need",
            "waiting_reason",
            "estimate",
            "thumbnail_url",
            "page_url",
            "nozzle_diameter",
            "tags",
            "target_machine",
            "batch_id",
            "version",
            "created_at",
            "updated_at",
            "queued_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_queue_index(self, job) -> int | None:
        return getattr(job, "queue_index", None)

    @extend_schema_field(EstimateSerializer(allow_null=True))
    def get_estimate(self, job) -> dict | None:
        estimate = (self.context.get("estimates") or {}).get(job.pk)
        if estimate is None:
            return None
        return {
            "start": estimate.start,
            "finish": estimate.finish,
            "machine": estimate.machine_name,
            "note": estimate.note,
        }

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thumbnail_url(self, job) -> str | None:
        return self._absolute(reverse("jobs:thumbnail", args=[job.pk])) if job.thumbnail else None

    @extend_schema_field(serializers.CharField())
    def get_page_url(self, job) -> str:
        return self._absolute(reverse("jobs:detail", args=[job.pk]))

    @extend_schema_field(serializers.CharField())
    def get_waiting_reason(self, job) -> str:
        reasons = self.context.get("waiting_reasons")
        if reasons is None:
            if job.state != "queued":
                return ""
            reasons = queue_waiting_reasons(jobs=[job])
        return reasons.get(job.pk, "")

    @extend_schema_field(
        {
            "type": "object",
            "properties": {name: {"type": "boolean"} for name in JobControls.__dataclass_fields__},
        }
    )
    def get_controls(self, job) -> dict[str, bool]:
        return job_controls(job=job).as_dict()

    @extend_schema_field(serializers.JSONField())
    def get_filament_need(self, job) -> dict:
        return (job.metadata or {}).get("filament_need") or {
            "known": False,
            "tools": [],
            "note": "need unknown",
        }


class JobUpdateSerializer(serializers.Serializer):
    """Fields a waiting job can change; ``version`` (or If-Match) guards against lost updates."""

    version = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT)
    name = serializers.CharField(required=False, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.IntegerField(required=False, min_value=-100, max_value=100)
    machine_type = serializers.CharField(required=False, max_length=100)
    material = serializers.CharField(required=False, allow_blank=True, max_length=50)
    colour = serializers.CharField(required=False, allow_blank=True, max_length=50)
    nozzle_diameter = serializers.DecimalField(
        required=False, allow_null=True, max_digits=4, decimal_places=2, min_value=0
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    target_machine = serializers.PrimaryKeyRelatedField(
        queryset=MachineConfig.objects.all(), required=False, allow_null=True
    )


class JobEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = JobEvent
        fields = [
            "id",
            "kind",
            "from_state",
            "to_state",
            "actor_kind",
            "actor",
            "reason",
            "extra",
            "created_at",
        ]
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class JobIdsSerializer(serializers.Serializer):
    uids = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=10_000)


class QueueMoveSerializer(JobIdsSerializer, LocationSerializer):
    pass


class QueueLockSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000)


class QueueStateSerializer(serializers.ModelSerializer):
    locked_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    dispatch_allowed = serializers.BooleanField(read_only=True)

    class Meta:
        model = QueueState
        fields = [
            "running",
            "stop_pending",
            "dispatch_allowed",
            "locked",
            "lock_note",
            "locked_by",
            "locked_at",
            "queue_version",
            "history_version",
        ]
        read_only_fields = fields


class QueueSerializer(serializers.Serializer):
    status = QueueStateSerializer()
    items = JobSerializer(many=True)
    running = JobSerializer(many=True)


JOB_STATES = [s.value for s in JobState]


class PreflightFilamentSerializer(serializers.Serializer):
    tool = serializers.IntegerField()
    material = serializers.CharField()
    grams = serializers.FloatField(allow_null=True)
    metres = serializers.FloatField(allow_null=True)


class PreflightMachineSerializer(serializers.Serializer):
    name = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


class PreflightSerializer(serializers.Serializer):
    """The pre-flight of one file, as the submit page shows it before "Confirm" (``jobs.preview``)."""

    accepted = serializers.BooleanField(help_text="False: `reasons` says why a submission would be refused.")
    reasons = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Findings that do not refuse.")
    name = serializers.CharField()
    file_name = serializers.CharField()
    size = serializers.IntegerField()
    file_format = serializers.CharField()
    sha256 = serializers.CharField()
    thumbnail = serializers.DictField(help_text="The slicer's picture: format, width, height; or a note.")
    estimated_time_s = serializers.FloatField(source="estimated_seconds", allow_null=True)
    filament = PreflightFilamentSerializer(many=True)
    filament_grams = serializers.FloatField(source="grams", allow_null=True)
    filament_metres = serializers.FloatField(source="metres", allow_null=True)
    filament_note = serializers.CharField()
    materials = serializers.ListField(child=serializers.CharField())
    machines = serializers.ListField(
        child=serializers.CharField(), help_text="Names of the machines that fit."
    )
    unfit_machines = serializers.SerializerMethodField()
    earliest_start = serializers.DateTimeField(source="start", allow_null=True)
    estimated_finish = serializers.DateTimeField(source="finish", allow_null=True)
    start_machine = serializers.CharField(help_text="The machine the forecast puts it on.")
    start_note = serializers.CharField(help_text="Why there is no start, e.g. a quota or a training.")

    @extend_schema_field(PreflightMachineSerializer(many=True))
    def get_unfit_machines(self, preview) -> list[dict]:
        return [{"name": name, "reasons": reasons} for name, reasons in preview.unfit]
