from __future__ import annotations

import django_filters

from jobs.models import Job
from jobs.states import JobState


class JobFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=JobState.choices)
    owner = django_filters.NumberFilter(field_name="owner_id")
    owner_username = django_filters.CharFilter(field_name="owner__username")
    machine = django_filters.UUIDFilter(field_name="machine_id")
    batch = django_filters.UUIDFilter(field_name="batch_id")
    external = django_filters.BooleanFilter()
    finished_after = django_filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = django_filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="lt")

    class Meta:
        model = Job
        fields = ["state", "owner", "owner_username", "machine", "batch", "external"]
