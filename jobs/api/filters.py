from __future__ import annotations

import django_filters

from jobs.models import Job
from jobs.states import JobState
from mes.api import query


class JobFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=JobState.choices)
    owner = query.IdFilter(field_name="owner_id", help_text="The owner's user id.")
    owner_username = django_filters.CharFilter(field_name="owner__username")
    machine = query.UUIDFilter(field_name="machine_id")
    batch = query.UUIDFilter(field_name="batch_id")
    external = query.BooleanFilter()
    finished_after = query.DateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = query.DateTimeFilter(field_name="finished_at", lookup_expr="lt")

    class Meta:
        model = Job
        fields = ["state", "owner", "owner_username", "machine", "batch", "external"]
