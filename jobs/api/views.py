"""REST API for jobs and the queue. Views translate HTTP to service calls; rules live in services."""

from __future__ import annotations

from django.core.exceptions import TooManyFilesSent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import selectors, services
from jobs.api.filters import JobFilter
from jobs.api.serializers import (
    JobBatchSubmitSerializer,
    JobEventSerializer,
    JobIdsSerializer,
    JobOptionsSerializer,
    JobSerializer,
    JobSubmitSerializer,
    JobUpdateSerializer,
    LocationSerializer,
    PreflightSerializer,
    QueueLockSerializer,
    QueueMoveSerializer,
    QueueSerializer,
    QueueStateSerializer,
    ReasonSerializer,
)
from jobs.estimates import job_estimates
from jobs.exceptions import UploadTooLarge
from jobs.preview import file_preview
from jobs.services.staging import file_check
from jobs.uploads import install_upload_handler, too_many_files_message
from mes.api.exceptions import ErrorSerializer
from mes.api.permissions import IsStaff, TokenHasScope

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; `reasons` lists every failed check"),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed for this user"),
    404: OpenApiResponse(ErrorSerializer, description="No such job (or not yours)"),
    409: OpenApiResponse(
        ErrorSerializer, description="Illegal transition, version conflict or queue conflict"
    ),
    423: OpenApiResponse(ErrorSerializer, description="The queue is locked by staff"),
}
MAX_BATCH_FILES = 100
UPLOAD_ACTIONS = {"create", "batch", "preflight"}


class JobErrorMixin:
    """Job views: the jobs token scope (JobErrors become the error shape in mes.api.exceptions)."""

    scope_area = "jobs"


def _not_modified_or(request, etag: str, build) -> Response:
    """304 when the client already has this version; otherwise the body with the ETag."""
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = Response(status=status.HTTP_304_NOT_MODIFIED)
    else:
        response = build()
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Cookie, Authorization"
    return response


def _expected_version(request, body_version: int | None) -> int | None:
    if body_version is not None:
        return body_version
    match = request.headers.get("If-Match", "").strip().strip('W/"').strip('"')
    if match.isdigit() and len(match) <= 9:
        return int(match)
    return None


class JobViewSet(JobErrorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Print jobs. Students see and change their own; staff see and change all."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    search_fields = ["name", "original_name", "owner__username"]
    ordering_fields = ["created_at", "priority", "finished_at", "state"]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def initialize_request(self, request, *args, **kwargs):
        # The upload handler must be in place before anything (even the CSRF check) reads the body.
        post_action = (self.action_map or {}).get("post") if request.method == "POST" else None
        self._uploading = post_action in UPLOAD_ACTIONS
        if self._uploading:
            install_upload_handler(request, max_files=MAX_BATCH_FILES if post_action == "batch" else 1)
        return super().initialize_request(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        """One job; a waiting or printing one with its estimated start and finish."""
        job = self.get_object()
        context = {**self.get_serializer_context(), "estimates": job_estimates(jobs=[job])}
        return Response(JobSerializer(job, context=context).data)

    def handle_exception(self, exc):
        if isinstance(exc, TooManyFilesSent):  # Django counts files too (DATA_UPLOAD_MAX_NUMBER_FILES)
            exc = UploadTooLarge(too_many_files_message(MAX_BATCH_FILES), limit=MAX_BATCH_FILES)
        return super().handle_exception(exc)

    def get_parsers(self):
        """Files come as multipart forms; everything else is JSON (the API's only other format)."""
        if getattr(self, "_uploading", False) or getattr(self, "action", None) in UPLOAD_ACTIONS:
            return [MultiPartParser(), FormParser()]
        return [JSONParser()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.Job.objects.none()
        return selectors.job_list_visible(user=self.request.user).order_by("-created_at")

    @extend_schema(
        request=JobSubmitSerializer, responses={201: JobSerializer, 413: ErrorSerializer, **ERRORS}
    )
    def create(self, request):
        """Upload a G-code file and queue it. Every failed check is listed in `reasons`; nothing is stored."""
        serializer = JobSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spec = serializer.spec()
        job = services.job_submit(user=request.user, spec=spec, location=serializer.location())
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=JobBatchSubmitSerializer,
        responses={201: JobSerializer(many=True), 413: ErrorSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Add several files as one block: every item is checked first, then all are added or none."""
        serializer = JobBatchSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = JobOptionsSerializer()
        specs = [
            services.JobSpec(
                file=file,
                name=opts.get("name", ""),
                notes=opts.get("notes", ""),
                priority=opts.get("priority", 0),
                constraints=options.constraints(opts),
            )
            for file, opts in zip(data["files"], data["options"], strict=True)
        ]
        jobs = services.job_submit_batch(user=request.user, specs=specs, location=serializer.location())
        return Response(JobSerializer(jobs, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=JobSubmitSerializer,
        responses={200: PreflightSerializer, 413: ErrorSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"])
    def preflight(self, request):
        """Check a file as a submission would, and say what the lab would do with it, without creating a
        job or keeping the file: estimated time, filament, the machines that fit (and why the others do
        not), findings, and the earliest start by the queue forecast. `accepted` false: `reasons` lists
        what a submission would be refused for (still 200; the request itself was fine)."""
        serializer = JobSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spec = serializer.spec()
        preview = file_preview(user=request.user, outcome=file_check(user=request.user, spec=spec))
        return Response(PreflightSerializer(preview).data)

    @extend_schema(
        request=JobUpdateSerializer,
        responses={200: JobSerializer, **ERRORS},
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=False)],
    )
    def partial_update(self, request, pk=None):
        """Change a waiting job in place (it keeps its UUID). Send `version` or If-Match to avoid lost updates."""
        job = self.get_object()
        serializer = JobUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = _expected_version(request, data.pop("version", None))
        job = services.job_update(job=job, user=request.user, data=data, expected_version=version)
        return Response(JobSerializer(job).data)

    @extend_schema(request=ReasonSerializer, responses={204: None, **ERRORS})
    def destroy(self, request, pk=None):
        """Remove a waiting job from the queue (it is cancelled and stays in the history)."""
        job = self.get_object()
        reason = ReasonSerializer(data=request.data)  # a body is optional; if sent, {"reason": text}
        reason.is_valid(raise_exception=True)
        services.queue_remove(job=job, user=request.user, reason=reason.validated_data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=JobEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        """The job's audit trail: creation, every transition, every request and update."""
        job = self.get_object()
        return Response(JobEventSerializer(selectors.job_events(job=job), many=True).data)

    def _control(self, request, action_name: str) -> Response:
        job = self.get_object()
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        if action_name == "cancel":  # also reaches a partner lab that prints a forwarded job
            job = services.job_request_cancel(
                job=job, user=request.user, reason=reason.validated_data["reason"]
            )
        else:
            job = services.job_request_control(
                job=job, action=action_name, user=request.user, reason=reason.validated_data["reason"]
            )
        code = status.HTTP_200_OK if job.state == "cancelled" else status.HTTP_202_ACCEPTED
        return Response(JobSerializer(job).data, status=code)

    @extend_schema(request=ReasonSerializer, responses={202: JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Ask the machine to pause; the job becomes `paused` when the machine reports it."""
        return self._control(request, "pause")

    @extend_schema(request=ReasonSerializer, responses={202: JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._control(request, "resume")

    @extend_schema(request=ReasonSerializer, responses={200: JobSerializer, 202: JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """A waiting job is cancelled at once (200); a job on a machine gets a cancel request (202)."""
        return self._control(request, "cancel")

    @extend_schema(request=ReasonSerializer, responses={200: JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        job = self.get_object()
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        job = services.job_approve(job=job, user=request.user, reason=reason.validated_data["reason"])
        return Response(JobSerializer(job).data)

    @extend_schema(request=LocationSerializer, responses={200: JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Staff: move a waiting job to front/back/index or before/after another job of the same priority."""
        job = self.get_object()
        location = LocationSerializer(data=request.data)
        location.is_valid(raise_exception=True)
        job = services.queue_move(job=job, location=location.location(), user=request.user)
        return Response(JobSerializer(job).data)


class QueueView(JobErrorMixin, APIView):
    """The waiting jobs in order (students: only theirs, with their farm-wide index) and the running ones."""

    @extend_schema(
        responses={200: QueueSerializer, 304: None},
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False)],
    )
    def get(self, request):
        state = selectors.queue_state_get()
        etag = selectors.change_marker(kind="queue", version=state.queue_version, user=request.user)

        def build():
            items = list(selectors.queue_list(user=request.user))
            running = list(selectors.running_list(user=request.user))
            context = {
                "waiting_reasons": selectors.queue_waiting_reasons(jobs=items),
                "estimates": job_estimates(jobs=[*items, *running]),
            }
            body = {
                "status": QueueStateSerializer(state).data,
                "items": JobSerializer(items, many=True, context=context).data,
                "running": JobSerializer(running, many=True, context=context).data,
            }
            return Response(body)

        return _not_modified_or(request, etag, build)


class HistoryView(JobErrorMixin, ListAPIView):
    """Finished jobs, newest first, with filters and limit/offset paging; ETag follows the history version."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    ordering_fields: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.Job.objects.none()
        return selectors.history_list(user=self.request.user)

    @extend_schema(
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False)]
    )
    def get(self, request, *args, **kwargs):
        state = selectors.queue_state_get()
        etag = selectors.change_marker(
            kind="history",
            version=state.history_version,
            user=request.user,
            query=request.META.get("QUERY_STRING", ""),
        )
        return _not_modified_or(request, etag, lambda: self.list(request, *args, **kwargs))


class _QueueAction(JobErrorMixin, APIView):
    request_serializer = None

    def data(self, request):
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer


class _StaffQueueAction(_QueueAction):
    permission_classes = [IsAuthenticated, TokenHasScope, IsStaff]


class QueueMoveView(_StaffQueueAction):
    request_serializer = QueueMoveSerializer

    @extend_schema(request=QueueMoveSerializer, responses={200: JobSerializer(many=True), **ERRORS})
    def post(self, request):
        """Staff: move jobs as one block, in the order given. All or none."""
        serializer = self.data(request)
        jobs = services.queue_move_batch(
            jobs=serializer.validated_data["uids"], location=serializer.location(), user=request.user
        )
        return Response(JobSerializer(jobs, many=True).data)


class QueueRemoveView(_QueueAction):
    request_serializer = JobIdsSerializer

    @extend_schema(request=JobIdsSerializer, responses={200: JobSerializer(many=True), **ERRORS})
    def post(self, request):
        """Remove waiting jobs (cancelled, kept in history). All or none."""
        serializer = self.data(request)
        jobs = services.queue_remove_batch(jobs=serializer.validated_data["uids"], user=request.user)
        return Response(JobSerializer(jobs, many=True).data)


class QueueClearView(_StaffQueueAction):
    @extend_schema(request=None, responses={200: QueueStateSerializer, **ERRORS})
    def post(self, request):
        """Staff: cancel every waiting job; jobs on machines are left alone."""
        cleared = services.queue_clear(user=request.user)
        body = QueueStateSerializer(selectors.queue_state_get()).data
        return Response({**body, "cleared": cleared})


def _flag_view(service, doc: str, serializer=None):
    class View(_StaffQueueAction):
        request_serializer = serializer

        @extend_schema(request=serializer, responses={200: QueueStateSerializer, **ERRORS}, description=doc)
        def post(self, request):
            kwargs = dict(self.data(request).validated_data) if serializer else {}
            return Response(QueueStateSerializer(service(user=request.user, **kwargs)).data)

    View.__name__ = View.__qualname__ = f"Queue{service.__name__.title().replace('_', '')}View"
    return View


QueueStartView = _flag_view(services.queue_start, "Staff: dispatch again.")
QueueStopView = _flag_view(services.queue_stop, "Staff: dispatch nothing new; pending while jobs still run.")
QueueStopCancelView = _flag_view(services.queue_stop_cancel, "Staff: withdraw a pending stop.")
QueueLockView = _flag_view(
    services.queue_lock, "Staff: freeze queue changes, with a note.", QueueLockSerializer
)
QueueUnlockView = _flag_view(services.queue_unlock, "Staff: unfreeze the queue.")
