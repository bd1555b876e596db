"""The fleet benchmark's table (printed) and ``docs/benchmarks.md`` (written unless ``--no-write``)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys

from procfs import fmt, machine_description, percentile
from stack import ROOT

# Switches the processes inherit from this environment (a run with metrics and events off, for the
# comparison issue 17 asks for); named in the table so the two runs cannot be mixed up.
SWITCHES = ("METRICS_ENABLED", "EVENTS_ENABLED")

# What each ``--engine`` runs; the label heads the table and names the run's section of docs/benchmarks.md.
CONFIGURATIONS = {
    "celery": "Celery + Redis + PostgreSQL",
    "embedded": "Embedded default: SQLite, database cache, django-q",
}
LATEST = "## Latest fleet run\n"


def switches() -> list[str]:
    return [f"{name}={os.environ[name]}" for name in SWITCHES if name in os.environ]


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "missed")


def render(r: dict, args: argparse.Namespace) -> str:
    dispatch = r.get("dispatch")
    d_p50 = percentile(dispatch["latencies"], 50) if dispatch else None
    d_p99 = percentile(dispatch["latencies"], 99) if dispatch else None
    rows = [
        (
            "Polls per second",
            f"{r['poll_rate']:,.1f} of {r['target_rate']:,.0f} ({100 * r['poll_rate'] / r['target_rate']:.1f} %);"
            f" simulator saw {r['sim_rate']:,.0f} requests/s",
            f"{r['target_rate']:,.0f}",
            verdict(r["poll_rate"] >= 0.99 * r["target_rate"]),
        ),
        (
            "Polls on time",
            f"{fmt(r['on_time'], ' %', 2)} of {r['polls']:,} ({r['failures']:,} failed)",
            "≥ 99 %",
            verdict(None if r["on_time"] is None else r["on_time"] >= 99),
        ),
        (
            "API staleness p50 / p99",
            f"{fmt(r['staleness_p50'], ' s', 2)} / {fmt(r['staleness_p99'], ' s', 2)}"
            + (f" ({r['never_seen']} never seen)" if r["never_seen"] else ""),
            "p99 ≤ 3 s",
            verdict(None if r["staleness_p99"] is None else r["staleness_p99"] <= 3),
        ),
        (
            "CPU per poll (all Lab MES)",
            f"{fmt(r['cpu_per_poll'], ' ms', 2)} (pollers alone {fmt(r['poller_cpu_per_poll'], ' ms', 2)});"
            f" {r['cpu_share']:.2f} cores",
            "≤ 1 ms",
            verdict(None if r["cpu_per_poll"] is None else r["cpu_per_poll"] <= 1),
        ),
        (
            "Dispatch latency p50 / p99",
            (
                f"{fmt(d_p50, ' s', 2)} / {fmt(d_p99, ' s', 2)} "
                f"({dispatch['printing']} of {dispatch['jobs']} printing)"
            )
            if dispatch
            else "skipped",
            "p99 ≤ 1 s",
            verdict(
                None
                if not dispatch
                else dispatch["printing"] == dispatch["jobs"] and d_p99 is not None and d_p99 <= 1
            ),
        ),
        (
            f"Machine list ({r['count']}) p50 / p99",
            f"{fmt(r['list_p50'], ' ms')} / {fmt(r['list_p99'], ' ms')} ({r['list_samples']} requests"
            + (f", {r['list_errors']} failed" if r["list_errors"] else "")
            + ")",
            "p99 ≤ 100 ms",
            verdict(None if r["list_p99"] is None else r["list_p99"] <= 100),
        ),
    ]
    lines = [
        # "+", not adjacent literals: those would make the whole header the join's separator.
        f"Lab MES fleet benchmark: {r['count']} printers, {r['duration']:.0f} s measured, "
        f"{r['pollers']} poller(s) x {r['threads']} threads, lease TTL {r['lease_ttl']:g} s, "
        + ", ".join([CONFIGURATIONS[r.get("engine", "celery")], *switches()]),
        "",
        "| Measure | Reached | Target | |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "CPU over the window, per process tree (ms; children included):",
        "",
        "| Process | CPU ms | ms per poll |",
        "|---|---|---|",
        *(
            f"| {name} | {ms:,.0f} | {ms / r['polls']:.3f} |"
            if r["polls"]
            else f"| {name} | {ms:,.0f} | n/a |"
            for name, ms in sorted(r["cpu_ms"].items())
        ),
        *dispatch_steps(dispatch),
        "",
        "Peak memory (VmHWM):",
        "",
        "| Process | PID | Peak MB |",
        "|---|---|---|",
        *(f"| {label} | {pid} | {mb:,.1f} |" for label, pid, mb in r["memory"]),
        "",
        f"Load average at the end: {r['load'][0]:.2f} / {r['load'][1]:.2f} / {r['load'][2]:.2f} "
        "(1 / 5 / 15 min; other work shared the cores).",
    ]
    return "\n".join(lines)


def dispatch_steps(dispatch: dict | None) -> list[str]:
    """The dispatch latency split by the job's states, p50 / p99 of each step."""
    steps = (dispatch or {}).get("steps") or {}
    if not steps:
        return []
    return [
        "",
        "Dispatch, step by step (s, from the jobs' events):",
        "",
        "| Step | p50 | p99 |",
        "|---|---|---|",
        *(
            f"| {step} | {percentile(values, 50):.2f} | {percentile(values, 99):.2f} |"
            for step, values in steps.items()
        ),
    ]


def fleet_sections(previous: str) -> dict[str, str]:
    """The per-configuration sections of the "Latest fleet run" part of a written docs/benchmarks.md.

    A page written before there was one section per configuration holds one Celery run: it is kept
    as the Celery section, so the first embedded run does not wipe it.
    """
    start = previous.find(LATEST)
    if start < 0:
        return {}
    part = previous[start + len(LATEST) :]
    part = part.split("\n## ", 1)[0]
    pieces = re.split(r"^### (.+)$", part, flags=re.MULTILINE)
    by_label = {label: engine for engine, label in CONFIGURATIONS.items()}
    sections = {
        by_label[title.strip()]: f"### {title.strip()}\n\n{body.strip()}"
        for title, body in zip(pieces[1::2], pieces[2::2], strict=True)
        if title.strip() in by_label
    }
    if len(pieces) == 1 and CONFIGURATIONS["celery"] in part:
        sections["celery"] = f"### {CONFIGURATIONS['celery']}\n\n{part.strip()}"
    return sections


def document(table: str, r: dict, previous: str = "") -> str:
    """The whole page: this run's section, the other configurations' sections of ``previous``, the notes."""
    host = machine_description()
    notes_path = ROOT / "bench" / "benchmarks_notes.md"
    notes = notes_path.read_text() if notes_path.is_file() else ""
    engine = r.get("engine", "celery")
    sections = fleet_sections(previous)
    sections[engine] = (
        f"### {CONFIGURATIONS[engine]}\n\n"
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- Machine: {host['cpu']}, {host['cores']} cores, {host['ram']} RAM, {host['os']}\n"
        f"- Python {host['python']}; the simulator ran on the same cores\n"
        f"- Command: `{' '.join([*switches(), 'bench/run.py', *sys.argv[1:]])}`\n\n"
        f"{table}"
    )
    return (
        "# Benchmarks\n\n"
        "Written by `make bench` (`bench/run.py`); the figures are never asserted in tests.\n\n"
        f"{LATEST}\n"
        "One section per configuration, each from its latest run: `make bench` (Celery + Redis +\n"
        'PostgreSQL) and `make bench ARGS="--engine embedded"` (the embedded default of `make run`);\n'
        '`ARGS="--printers 2000"` for a larger fleet.\n\n'
        + "\n\n".join(sections[key] for key in CONFIGURATIONS if key in sections)
        + "\n"
        + (f"\n{notes}" if notes else "")
    )
