from __future__ import annotations

import django_filters

from machines.models import MachineConfig
from machines.registry import get_registry
from machines.selectors import machine_ids_with_status_class
from machines.status import StatusClass
from mes.api import query


class MachineFilter(django_filters.FilterSet):
    machine_type = django_filters.CharFilter(field_name="machine_type", help_text="Machine type slug.")
    driver = django_filters.CharFilter(field_name="driver", help_text="Driver slug.")
    active = query.BooleanFilter(field_name="active")
    status_class = django_filters.ChoiceFilter(
        choices=[(c.value, c.value) for c in StatusClass],
        method="filter_status_class",
        help_text="ok (1xx), warning (2xx), machine_fault (3xx), driver_fault (4xx), unknown (5xx).",
    )

    class Meta:
        model = MachineConfig
        fields = ["machine_type", "driver", "active", "status_class"]

    def filter_status_class(self, queryset, name, value):
        registry = get_registry()
        defaults = {slug: int(cls.default_machine_status) for slug, cls in registry.machine_types.items()}
        ids = machine_ids_with_status_class(queryset, StatusClass(value), default_status=defaults)
        return queryset.filter(pk__in=ids)
