"""/metrics: scraped and parsed like Prometheus does, before and after a print on the simulator."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from events.services import events_dispatch
from jobs.models import Job
from jobs.services.dispatch import job_dispatch
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from machines.runtime import MachineRuntime
from tests.jobs.dispatch_support import submit_job
from tests.runtime.fault_support import gcode

pytestmark = pytest.mark.django_db


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_simulated_print_moves_the_counters(
    client, farm, student, lease_store, django_capture_on_commit_callbacks
):
    config = farm.add_machine("mk4")
    runtime = MachineRuntime(owner="metrics-test", store=lease_store)
    runtime.poll(str(config.pk))  # as the poller process does: timed, per driver
    before = scrape(client)

    submit_job(student, name="bracket", content=gcode(seconds=6))
    [job] = schedule_run()
    assert job_dispatch(job_id=job.pk).result == "printing"
    for _ in range(600):
        runtime.poll(str(config.pk))
        if Job.objects.get(pk=job.pk).state == JobState.COMPLETED:
            break
        farm.wait_printer(config, lambda s: True, what="a state")
    assert Job.objects.get(pk=job.pk).state == JobState.COMPLETED
    with django_capture_on_commit_callbacks(execute=True):
        events_dispatch()
    after = scrape(client)

    assert value(after, "mes_jobs_finished_total") == value(before, "mes_jobs_finished_total") + 1
    assert value(after, "mes_jobs_failed_total") == value(before, "mes_jobs_failed_total")
    assert value(after, "mes_events_total", type="job.finished") == 1
    assert value(after, "mes_print_hours_total", outcome="finished") > 0
    assert value(after, "mes_filament_grams_total") == pytest.approx(3.7)
    assert (
        value(after, "mes_dispatch_latency_seconds_count")
        == value(before, "mes_dispatch_latency_seconds_count") + 1
    )
    polls = "mes_poll_duration_seconds_count"
    assert value(after, polls, driver="octoprint") > value(before, polls, driver="octoprint") + 1
    assert value(after, "mes_machines", status="awaiting_bed_clear", machine_type="printer-3d") == 1
    assert value(before, "mes_machines", status="idle", machine_type="printer-3d") == 1
    assert (
        0 <= value(after, "mes_machine_last_seen_age_seconds", machine="mk4", machine_type="printer-3d") < 600
    )
    assert value(after, "mes_jobs", state="queued") == 0
    for consumer in ("metrics", "notifications", "webhooks"):
        assert value(after, "mes_outbox_depth", consumer=consumer) == 0
    assert ("mes_opcua_bridge_connected", ()) in after


def test_queue_length_and_outbox_depth_before_consumers_ran(client, submit, student):
    submit(student)
    submit(student)
    samples = scrape(client)
    assert value(samples, "mes_jobs", state="queued") == 2
    assert value(samples, "mes_outbox_depth", consumer="metrics") == 4  # submitted + accepted, twice


def test_access_needs_an_allowed_address_or_the_token(client, settings):
    settings.METRICS_TOKEN = ""
    outside = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 403 and b"METRICS_ALLOWED_NETWORKS" in outside.content
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403 and b"METRICS_TOKEN" in wrong.content
    assert scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    settings.METRICS_TOKEN = ""
    assert scrape(client, REMOTE_ADDR="203.0.113.9")


def test_the_dashboard_and_the_docs_name_only_metrics_that_exist(client):
    import json
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text())
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bmes_[a-z_]+", target["expr"])
    }
    documented = set(re.findall(r"^\| `(mes_[a-z_]+)`", (docs / "metrics.md").read_text(), flags=re.M))
    families = list(text_string_to_metric_families(client.get("/metrics").content.decode()))
    exposed = {f.name + ("_total" if f.type == "counter" else "") for f in families} | {
        "mes_poll_errors_total",  # per-process samples appear once something was measured
        "mes_dispatch_latency_seconds",
        "mes_poll_duration_seconds",
    }
    assert used <= documented, used - documented
    assert documented <= exposed, documented - exposed
