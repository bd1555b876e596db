"""Operator controls over the API: staff send one control to one machine (machines.controls)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from machines.controls import ControlRefused, machine_control, machine_controls, machine_printing
from machines.machine_types.printer_controls import MOTION_CONTROLS, Control
from mes.api.exceptions import ErrorSerializer
from mes.api.permissions import TokenHasScope

STAFF = [IsAuthenticated, TokenHasScope, IsAdminUser]


class ControlRequestSerializer(serializers.Serializer):
    """The arguments; each control reads its own (the others are ignored)."""

    material = serializers.CharField(required=False, help_text="preheat: a preset, e.g. PLA")
    tool = serializers.FloatField(required=False, help_text="preheat: nozzle target °C")
    bed = serializers.FloatField(required=False, help_text="preheat: bed target °C")
    axes = serializers.ListField(
        child=serializers.ChoiceField(["x", "y", "z"]), required=False, help_text="home"
    )
    x = serializers.FloatField(required=False, help_text="jog: mm")
    y = serializers.FloatField(required=False, help_text="jog: mm")
    z = serializers.FloatField(required=False, help_text="jog: mm")
    percent = serializers.FloatField(required=False, help_text="fan 0-100, speed 10-500, flow 50-200")
    line = serializers.CharField(required=False, help_text="gcode: one line or macro")
    name = serializers.CharField(required=False, help_text="print_file: a file on the printer")


ControlResultSerializer = inline_serializer(
    "MachineControlResult",
    {
        "control": serializers.CharField(),
        "message": serializers.CharField(),
        "log_id": serializers.IntegerField(),
    },
)


class MachineControlsView(APIView):
    """Which controls the machine offers, and which are refused now because it is printing."""

    scope_area = "machines"
    permission_classes = STAFF

    @extend_schema(
        responses=inline_serializer(
            "MachineControls",
            {
                "controls": serializers.ListField(child=serializers.CharField()),
                "refused_while_printing": serializers.ListField(child=serializers.CharField()),
                "printing": serializers.BooleanField(),
                "presets": serializers.DictField(child=serializers.ListField(child=serializers.FloatField())),
            },
        )
    )
    def get(self, request, machine_id):
        offered = machine_controls(machine_id=machine_id)
        return Response(
            {
                "controls": sorted(c.value for c in offered),
                "refused_while_printing": sorted(c.value for c in offered & MOTION_CONTROLS),
                "printing": machine_printing(machine_id=machine_id),
                "presets": {k: list(v) for k, v in settings.MACHINES_PREHEAT_PRESETS.items()},
            }
        )


class MachineControlView(APIView):
    """Send one control. Refusals say why: 400 bad or unsupported, 403 denied G-code, 409 printing,
    502 the printer did not accept it. Every attempt is logged with the person."""

    scope_area = "machines"
    permission_classes = STAFF

    @extend_schema(
        request=ControlRequestSerializer,
        responses={
            200: ControlResultSerializer,
            400: OpenApiResponse(ErrorSerializer),
            403: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
            409: OpenApiResponse(ErrorSerializer),
            502: OpenApiResponse(ErrorSerializer),
        },
        parameters=[
            OpenApiParameter("control", str, OpenApiParameter.PATH, enum=[c.value for c in Control]),
        ],
        description="Controls: " + ", ".join(c.value for c in Control),
    )
    def post(self, request, machine_id, control):
        body = ControlRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = machine_control(
                machine_id=machine_id, control=control, params=body.validated_data, user=request.user
            )
        except ControlRefused as exc:
            return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
        return Response({"control": result.control.value, "message": result.message, "log_id": result.log.pk})
