"""``/metrics``: the Prometheus exposition, for a scraper holding the token or calling from an
allowed network (METRICS_TOKEN, METRICS_ALLOWED_NETWORKS; docs/metrics.md)."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from mes.outgoing import parse_networks
from metrics.collector import DatabaseCollector


def _allowed(request: HttpRequest) -> tuple[bool, str]:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True, ""
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        client = None
    if client is not None and any(
        client.version == net.version and client in net
        for net in parse_networks(settings.METRICS_ALLOWED_NETWORKS)
    ):
        return True, ""
    if token:
        return (
            False,
            "metrics need the METRICS_TOKEN as a bearer token (or a client in METRICS_ALLOWED_NETWORKS)",
        )
    return False, "metrics are only served to clients in METRICS_ALLOWED_NETWORKS (or set METRICS_TOKEN)"


def registry() -> CollectorRegistry:
    """Every process's samples (multi-process files) plus what the database says now."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        return HttpResponse(
            "metrics are switched off (METRICS_ENABLED=false)\n", status=404, content_type="text/plain"
        )
    ok, why = _allowed(request)
    if not ok:
        return HttpResponse(why + "\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
