"""Reads for webhooks (admin, API, metrics)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from webhooks.models import Delivery, Endpoint


def endpoint_list() -> QuerySet[Endpoint]:
    return Endpoint.objects.annotate(delivery_count=Count("deliveries")).order_by("name")


def delivery_list(*, endpoint: Endpoint | None = None) -> QuerySet[Delivery]:
    deliveries = Delivery.objects.select_related("endpoint", "event").prefetch_related("attempt_log")
    return deliveries.filter(endpoint=endpoint) if endpoint else deliveries


def delivery_counts() -> dict[tuple[str, str], int]:
    """(endpoint name, state) -> count."""
    rows = Delivery.objects.values_list("endpoint__name", "state").annotate(n=Count("pk"))
    return {(name, state): n for name, state, n in rows}
