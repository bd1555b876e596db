"""POST /api/jobs/machines/<uuid>/bed-cleared/: someone confirmed the plate of a machine was removed."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.views import JobErrorMixin
from jobs.services.bed import machine_bed_clear
from mes.api.exceptions import ErrorSerializer


class MachineBedClearedView(JobErrorMixin, APIView):
    """Staff, or the owner of the last job on the machine, confirm the bed is clear; the machine takes
    new jobs again."""

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                description="The machine is free; `job` is the job the confirmation was recorded on"
            ),
            403: OpenApiResponse(ErrorSerializer, description="Not staff and not the last job's owner"),
            404: OpenApiResponse(ErrorSerializer, description="No such machine"),
            409: OpenApiResponse(ErrorSerializer, description="The machine is not waiting for bed clear"),
        },
    )
    def post(self, request, machine_id):
        job = machine_bed_clear(machine_id=machine_id, user=request.user)
        return Response(
            {"machine": str(machine_id), "bed_clear_required": False, "job": str(job.pk) if job else None}
        )
