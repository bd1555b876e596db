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
from tests.waiting import wait_until

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

    def completed() -> bool:
        runtime.poll(str(config.pk))
        return Job.objects.get(pk=job.pk).state == JobState.COMPLETED

    # Polls until the print is over (a count of polls ran out first once polls got faster).
    wait_until(completed, timeout=60, interval=0.05, message="the print completed")
    with django_capture_on_commit_callbacks(execute=True):
        events_dispatch()
    after = scrape(client)

    assert value(after, "mes_jobs_finished_total") == value(before, "mes_jobs_finished_total") + 1
    assert value(after, "mes_jobs_failed_total") == value(before, "mes_jobs_failed_total")
    # Counters live in this process: other tests on this worker may have moved them before (deltas).
    finished_events = value(after, "mes_events_total", type="job.finished")
    assert finished_events == value(before, "mes_events_total", type="job.finished") + 1
    hours = value(after, "mes_print_hours_total", outcome="finished")
    assert hours > value(before, "mes_print_hours_total", outcome="finished")
    grams = value(after, "mes_filament_grams_total")
    assert grams == pytest.approx(value(before, "mes_filament_grams_total") + 3.7)
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


def test_samples_of_other_processes_are_added_up(client, tmp_path, monkeypatch):
    """Multi-process mode: what a poller process measured appears in the web process's answer."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    poller = (
        "from mes.instruments import POLL_DURATION, POLL_ERRORS\n"
        "for seconds in (0.02, 0.2, 3.0): POLL_DURATION.labels('moonraker').observe(seconds)\n"
        "POLL_ERRORS.labels('moonraker').inc()\n"
    )
    for _ in range(2):  # two poller processes, each with its own sample file
        subprocess.run(
            [sys.executable, "-c", poller],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
            check=True,
            timeout=60,
        )
    samples = scrape(client)
    assert value(samples, "mes_poll_duration_seconds_count", driver="moonraker") == 6
    assert value(samples, "mes_poll_duration_seconds_bucket", driver="moonraker", le="0.25") == 4
    assert value(samples, "mes_poll_errors_total", driver="moonraker") == 2


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_log_format_json_writes_one_object_per_line(tmp_path, log_format):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    program = (
        "import django; django.setup(); import logging\n"
        "logging.getLogger('mes.events').info('event job.finished', extra={'job_id': 'j-1', 'machine_id': 'm-1'})\n"
        "logging.getLogger('jobs').warning('two\\nlines')\n"
    )
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE"}}
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **keep,
            "DJANGO_SETTINGS_MODULE": "mes.settings",
            "MES_VAR_DIR": str(tmp_path),
            "LOG_FORMAT": log_format,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stderr.strip().splitlines()
    if log_format == "plain":
        assert lines[0].endswith("INFO mes.events: event job.finished") and lines[-1] == "lines"
        return
    event, warning = (json.loads(line) for line in lines)
    assert (
        event["message"] == "event job.finished"
        and event["level"] == "info"
        and event["logger"] == "mes.events"
    )
    assert event["job_id"] == "j-1" and event["machine_id"] == "m-1"
    assert warning["message"] == "two\nlines" and warning["level"] == "warning"


def test_metrics_can_be_switched_off_for_a_benchmark(client, settings, farm, lease_store, monkeypatch):
    from unittest import mock

    timings = mock.Mock()
    monkeypatch.setattr("machines.runtime.POLL_DURATION", timings)
    config = farm.add_machine("mk4")
    runtime = MachineRuntime(owner="metrics-test", store=lease_store)

    settings.METRICS_ENABLED = False
    response = client.get("/metrics")
    assert response.status_code == 404 and b"METRICS_ENABLED=false" in response.content
    assert runtime.poll(str(config.pk)) is True
    assert timings.labels.call_count == 0  # the poll path records nothing

    settings.METRICS_ENABLED = True
    assert runtime.poll(str(config.pk)) is True
    timings.labels.assert_called_once_with("octoprint")
    assert scrape(client)
