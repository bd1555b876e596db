"""Prometheus instruments the running processes update directly (ground floor: imports no app).

In multi-process mode (``PROMETHEUS_MULTIPROC_DIR``, set by the settings before anything imports
prometheus_client) every process writes its samples to its own file there and ``/metrics`` adds them
up, so the pollers' and workers' numbers appear in the web process's answer. Everything that can be
read from the database (machines by status, queue, totals) is computed at scrape time instead; see
the metrics app and docs/metrics.md.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

POLL_DURATION = Histogram(
    "mes_poll_duration_seconds",
    "Time one poll of one machine took, by driver.",
    ["driver"],
    buckets=POLL_BUCKETS,
)
POLL_ERRORS = Counter(
    "mes_poll_errors_total",
    "Polls that got no answer from the machine (unreachable, errors), by driver.",
    ["driver"],
)
DISPATCH_LATENCY = Histogram(
    "mes_dispatch_latency_seconds",
    "From the scheduler giving a job to a machine to the printer running it (upload and start).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
