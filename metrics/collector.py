"""What /metrics reads from the database at scrape time: the fleet, the queue, totals, outboxes.

These are the same in every process (the database says so), so they are computed once, in the process
that answers the scrape, instead of being kept as per-process samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.apps import apps
from django.db.models import Count, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from events.selectors import outbox_depth
from jobs.models import Job
from jobs.states import TERMINAL_STATES, JobState
from machines.models import MachineConfig
from machines.registry import get_registry
from machines.state import read_states
from machines.status import describe_status
from metrics.models import Tally


def _status_slug(machine_type: str, code: int | None) -> str:
    kind = get_registry().get_machine_type(machine_type)
    label = describe_status(getattr(kind, "MACHINE_STATUS", None), code)["label"]
    return label.lower().replace(" ", "_")


class DatabaseCollector(Collector):
    def collect(self) -> Iterator:
        yield from self._machines()
        yield from self._jobs()
        yield from self._tallies()
        yield from self._outboxes()
        yield from self._webhooks()

    def _machines(self) -> Iterator:
        configs = list(MachineConfig.objects.filter(active=True).select_related("state"))
        states = read_states(
            [c.pk for c in configs], rows={str(c.pk): getattr(c, "state", None) for c in configs}
        )
        by_status = GaugeMetricFamily(
            "mes_machines", "Active machines by status and machine type.", labels=["status", "machine_type"]
        )
        age = GaugeMetricFamily(
            "mes_machine_last_seen_age_seconds",
            "Seconds since the machine last answered a poll (absent: never).",
            labels=["machine", "machine_type"],
        )
        counts: dict[tuple[str, str], int] = {}
        now = time.time()
        for config in configs:
            state = states.get(str(config.pk))
            code = state.status if state else None
            key = (_status_slug(config.machine_type, code), config.machine_type)
            counts[key] = counts.get(key, 0) + 1
            if state is not None and state.last_seen is not None:
                age.add_metric(
                    [config.name, config.machine_type], max(0.0, now - state.last_seen.timestamp())
                )
        for (status, machine_type), n in sorted(counts.items()):
            by_status.add_metric([status, machine_type], n)
        yield by_status
        yield age

    def _jobs(self) -> Iterator:
        queue = GaugeMetricFamily("mes_jobs", "Jobs by state (the queue and what runs).", labels=["state"])
        rows = dict(
            Job.objects.exclude(state__in=TERMINAL_STATES).values_list("state").annotate(n=Count("pk"))
        )
        for state in JobState:
            if state not in TERMINAL_STATES:
                queue.add_metric([state.value], rows.get(state.value, 0))
        yield queue

    def _tallies(self) -> Iterator:
        tallies = {(t.name, t.label): t.value for t in Tally.objects.all()}

        def total(name: str) -> float:
            return sum(v for (n, _), v in tallies.items() if n == name)

        yield CounterMetricFamily("mes_jobs_finished", "Jobs completed.", value=total("jobs_finished"))
        yield CounterMetricFamily("mes_jobs_failed", "Jobs failed.", value=total("jobs_failed"))
        hours = CounterMetricFamily(
            "mes_print_hours", "Hours printed, by how the print ended.", labels=["outcome"]
        )
        for (name, label), value in sorted(tallies.items()):
            if name == "print_seconds":
                hours.add_metric([label], value / 3600)
        yield hours
        yield CounterMetricFamily(
            "mes_filament_grams",
            "Grams of filament used by finished prints (G-code estimate).",
            value=total("filament_grams"),
        )
        events = CounterMetricFamily("mes_events", "Domain events written, by type.", labels=["type"])
        for (name, label), value in sorted(tallies.items()):
            if name == "events":
                events.add_metric([label], value)
        yield events

    def _outboxes(self) -> Iterator:
        depth = GaugeMetricFamily(
            "mes_outbox_depth",
            "Events a consumer has not handled yet (and OPC UA values not delivered).",
            labels=["consumer"],
        )
        for consumer, pending in sorted(outbox_depth().items()):
            depth.add_metric([consumer], pending)
        if apps.is_installed("opcua"):
            from opcua.models import BridgeStatus, OutboxEntry  # inside: optional app (only when installed)

            depth.add_metric(["opcua_bridge"], OutboxEntry.objects.filter(delivered_at__isnull=True).count())
            status = BridgeStatus.objects.filter(pk=BridgeStatus.SINGLETON_ID).first()
            yield GaugeMetricFamily(
                "mes_opcua_bridge_connected",
                "1 while the OPC UA bridge is connected to (or serving) OPC UA.",
                value=1 if status and status.connected else 0,
            )
        yield depth

    def _webhooks(self) -> Iterator:
        if not apps.is_installed("webhooks"):
            return
        from webhooks.models import Attempt, Delivery  # inside: optional app (only when installed)

        failures = CounterMetricFamily(
            "mes_webhook_delivery_failures",
            "Failed webhook delivery attempts (non-2xx, timeout, connection error), by endpoint.",
            labels=["endpoint"],
        )
        failed_attempts = (
            Attempt.objects.filter(
                Q(status_code__isnull=True) | Q(status_code__lt=200) | Q(status_code__gte=300)
            )
            .values_list("delivery__endpoint__name")
            .annotate(n=Count("pk"))
        )
        for name, n in sorted(failed_attempts):
            failures.add_metric([name], n)
        yield failures
        deliveries = GaugeMetricFamily(
            "mes_webhook_deliveries", "Webhook deliveries by state.", labels=["state"]
        )
        counts = dict(Delivery.objects.values_list("state").annotate(n=Count("pk")))
        for state in Delivery.State:
            deliveries.add_metric([state.value], counts.get(state.value, 0))
        yield deliveries
