from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from machines import services
from machines.api.filters import MachineFilter
from machines.api.serializers import (
    LIST_FIELDS,
    DriverListSerializer,
    MachineSerializer,
    MachineTypeSerializer,
    MachineWriteSerializer,
    RegistryStatusSerializer,
    SettingValueSerializer,
    machine_list_data,
    machine_rows_data,
)
from machines.registry import MachineRegistry, get_registry
from machines.selectors import machine_list, machine_live_states
from machines.state import read_states
from mes.api.pagination import CursorPagination
from mes.api.permissions import IsStaffOrReadOnly, TokenHasScope
from mes.api.renderers import FastJSONRenderer
from plugins.registry import get_plugin_registry

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
PERMISSIONS = [IsAuthenticated, TokenHasScope, IsStaffOrReadOnly]


def _call_service(func, **kwargs):
    """Run a write service, nesting per-setting errors under ``settings``."""
    try:
        return func(**kwargs)
    except services.SettingsInvalid as exc:
        raise ValidationError(exc.api_body()) from exc


def _forget_renderer_context(response: Response) -> None:
    """Rendering is done: the context (view, request, the response itself) is not needed again."""
    response.renderer_context = None


class MachineViewSet(viewsets.ModelViewSet):
    """Machines with their live state (status, properties, errors, last seen)."""

    scope_area = "machines"
    permission_classes = PERMISSIONS
    serializer_class = MachineSerializer
    filterset_class = MachineFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "machine_type", "driver"]
    lookup_value_regex = UUID_PATTERN
    pagination_class = CursorPagination
    # The same JSON, encoded by orjson: a third of a 1000-machine list's time was the encoder.
    renderer_classes = [
        FastJSONRenderer,
        *(r for r in api_settings.DEFAULT_RENDERER_CLASSES if not issubclass(r, JSONRenderer)),
    ]

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        # DRF leaves the response in reference cycles (view.response, and the renderer context that
        # holds the view and, once rendered, the response itself), so a list body of thousands of
        # objects would wait for a full garbage collection (~100 ms at 1000 machines). Break them.
        self.response = None
        if isinstance(response, Response):
            response.add_post_render_callback(_forget_renderer_context)
        return response

    def get_queryset(self):
        # A list page holds many machines whose states the cache knows: joining the persisted
        # states would decode every row's JSON for nothing (the misses cost one query instead).
        return machine_list(with_persisted_state=self.action != "list")

    def _context(self, machines, registry: MachineRegistry | None = None) -> dict:
        if registry is None:
            registry = get_registry()  # reloads (and initializes new machines) before states are read
        return {
            **self.get_serializer_context(),
            "registry": registry,
            "states": machine_live_states(machines),
        }

    def _read(self, machine, **kwargs) -> Response:
        machine = machine_list().get(pk=machine.pk)
        return Response(MachineSerializer(machine, context=self._context([machine])).data, **kwargs)

    def list(self, request, *args, **kwargs):
        registry = get_registry()  # reload first if another process changed something
        queryset = self.filter_queryset(self.get_queryset()).values(*LIST_FIELDS)
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        states = read_states([row["id"] for row in rows])  # misses: one query for their stored state
        data = machine_rows_data(rows, registry=registry, states=states)
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        machine = self.get_object()
        return Response(MachineSerializer(machine, context=self._context([machine])).data)

    @extend_schema(request=MachineWriteSerializer, responses=MachineSerializer)
    def create(self, request, *args, **kwargs):
        serializer = MachineWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        machine = _call_service(services.machine_create, **serializer.validated_data)
        return self._read(machine, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=MachineWriteSerializer(many=True),
        responses={201: MachineSerializer(many=True)},
    )
    @action(detail=False, methods=["post"], url_path="bulk", pagination_class=None, filter_backends=[])
    def bulk(self, request):
        """Create many machines at once (a lab registering its fleet), all or none; errors name the row
        (``3.name``). The registry reloads once for the batch."""
        if not isinstance(request.data, list):
            raise ValidationError({"non_field_errors": ["Send a JSON list of machines."]})
        serializer = MachineWriteSerializer(
            data=request.data, many=True, max_length=services.MAX_BULK_MACHINES
        )
        serializer.is_valid(raise_exception=True)
        configs = _call_service(services.machines_create_many, machines=serializer.validated_data)
        machines = list(machine_list().filter(pk__in=[config.pk for config in configs]))
        data = machine_list_data(machines, context=self._context(machines))
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MachineWriteSerializer, responses=MachineSerializer)
    def update(self, request, *args, **kwargs):
        machine = self.get_object()
        partial = kwargs.pop("partial", False)
        serializer = MachineWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        _call_service(services.machine_update, machine=machine, **serializer.validated_data)
        return self._read(machine)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(description="Jobs refer to the machine: deactivate it instead"),
        }
    )
    def destroy(self, request, *args, **kwargs):
        services.machine_delete(machine=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses=SettingValueSerializer(many=True),
    )
    @action(
        detail=True, methods=["get", "patch"], url_path="settings", pagination_class=None, filter_backends=[]
    )
    def machine_settings(self, request, pk=None):
        """GET: definitions and values (secrets never shown). PATCH: {KEY: value}; null unsets."""
        machine = self.get_object()
        if request.method == "PATCH":
            _call_service(services.machine_settings_update, machine=machine, settings=request.data)
        registry = get_registry()
        definitions = registry.definitions_for(machine.machine_type, machine.driver)
        stored = {(s.config_type, s.key): s.value for s in machine.settings.all()}
        live = registry.get_machine(machine.pk)
        rows = []
        for key, definition in definitions.items():
            is_set = (definition.config_type, key) in stored
            value = None if definition.secret else (live.settings.get(key) if live else None)
            rows.append({**definition.as_dict(), "value": value, "is_set": is_set})
        return Response(rows)

    @extend_schema(request=None, responses=MachineSerializer)
    @action(detail=True, methods=["post"])
    def restart(self, request, pk=None):
        """Restart now when this process owns the machine, otherwise ask its owner."""
        machine = self.get_object()
        ran_here = services.machine_restart(machine=machine)
        response = self._read(machine)
        response.data = {"restarted_here": ran_here, "machine": response.data}
        return response


class MachineTypeListView(APIView):
    scope_area = "machines"
    permission_classes = PERMISSIONS

    @extend_schema(responses=MachineTypeSerializer(many=True))
    def get(self, request):
        registry = get_registry()
        types = []
        for slug, cls in sorted(registry.machine_types.items()):
            types.append(
                {
                    "slug": slug,
                    "name": cls.NAME,
                    "description": cls.DESCRIPTION,
                    "provided_by": registry.type_plugins[slug],
                    "statuses": [
                        {
                            "code": int(s),
                            "name": s.name,
                            "label": s.label,
                            "colour": s.colour,
                            "status_class": s.status_class,
                        }
                        for s in cls.MACHINE_STATUS
                    ],
                    "settings": [d.as_dict() for d in registry.definitions_for(slug, "").values()],
                    "drivers": sorted(d for d, drv in registry.drivers.items() if drv.machine_type == slug),
                }
            )
        return Response(types)


class DriverListView(APIView):
    scope_area = "machines"
    permission_classes = PERMISSIONS

    @extend_schema(responses=DriverListSerializer)
    def get(self, request):
        registry = get_registry()
        drivers = []
        for slug, driver in sorted(registry.drivers.items()):
            drivers.append(
                {
                    "slug": slug,
                    "name": driver.NAME,
                    "description": driver.DESCRIPTION,
                    "machine_type": driver.machine_type,
                    "plugin": registry.driver_plugins[slug],
                    "settings": [
                        d.as_dict()
                        for d in registry.definitions_for(driver.machine_type, slug).values()
                        if d.config_type == "D"
                    ],
                    "errors": list(driver.errors),
                    "machines": sum(1 for m in registry.machines() if m.driver is driver),
                }
            )
        return Response({"drivers": drivers, "errors": [e.as_dict() for e in registry.errors]})


class RegistryStatusView(APIView):
    """Generation, what is loaded, and every registry error (bad plugins, types, drivers)."""

    scope_area = "machines"
    permission_classes = PERMISSIONS

    @extend_schema(responses=RegistryStatusSerializer)
    def get(self, request):
        registry = get_registry()
        body = registry.status()
        body["errors"] = [e.as_dict() for e in get_plugin_registry().errors]
        return Response(body)
