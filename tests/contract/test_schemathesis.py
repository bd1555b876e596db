"""Schemathesis against the live server: every operation in the published OpenAPI schema, with all
checks, as staff and as a student, stateful sequences included, on a seeded lab.

The fixed budget (examples per operation and a seed) keeps a run to a few minutes and the same on
every run; a failure prints schemathesis' report with a curl line per failing case.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rest_framework.test import APIClient

from tests.contract.world import seed_world

# Slow: ~7 minutes per role, so it runs once per `make test`, in the full embedded pass (the fuzzer
# findings it led to are plain tests in test_fuzzer_findings.py, which run on PostgreSQL too).
pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.timeout(1500)]

ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 10
SEED = 13
# Checks that are wrong for this API, each with the reason.
EXCLUDED_CHECKS = {
    # Schema-valid inputs are also checked against the live registry, stored rows, the G-code and
    # DNS (unknown machine type, duplicate name, unresolvable partner URL): a 400 there is correct.
    "positive_data_acceptance": "semantic validation beyond what a schema can express",
}
# Not an exclusion: 502 is the documented answer when a partner lab cannot be reached, and the seeded
# partners never can (their hosts do not resolve). Every other 5xx still fails the run.
CONFIG = """
[checks.not_a_server_error]
expected-statuses = ["1xx", "2xx", "3xx", "4xx", "502"]
"""


@pytest.fixture
def world(transactional_db, settings):
    settings.OUTGOING_ALLOWED_NETWORKS = []  # fuzzed partner URLs must never reach this machine
    settings.FEDERATION_ALLOW_HTTP = True
    settings.API_WRITE_RATE = ""  # a fuzzer floods by design; the write throttle has its own test
    return seed_world()


def _operations() -> set[str]:
    """Every operation in the published schema, named as schemathesis' report names them."""
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]
    methods = ("get", "put", "post", "patch", "delete")
    return {
        f"{method.upper()} {path}" for path, item in paths.items() for method in item if method in methods
    }


# The schema in three parts of about 57 operations each, so that the six runs (two roles) share the
# pytest-xdist workers instead of two long ones holding the suite up. Every operation must be in one
# part: test_the_parts_cover_every_operation fails on a new API prefix until it is given a part.
PARTS = {
    "policies-plugins-notifications": r"^/api/(policies|plugins|notifications)/",
    "jobs-federation-tokens": r"^/api/(jobs|federation|tokens|health|me)/",
    "machines-materials-maintenance-webhooks": r"^/api/(machines|materials|maintenance|webhooks)/",
}


def _run(live_server, token: str, report: Path, part: str) -> subprocess.CompletedProcess:
    config = report.parent / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(ST),
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}/api/schema/",
        "--include-path-regex",
        PARTS[part],
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--no-color",
        "--header",
        f"Authorization: Bearer {token}",
        # A fresh connection per request. On a kept-alive connection, bytes of a malformed fuzzed request
        # that Django's development server (the live_server; production runs gunicorn) leaves unread
        # become the next "request", and its HTTP/0.9-style error page, with no status line, fails an
        # innocent operation as "Connection aborted. <!DOCTYPE HTML>".
        "--header",
        "Connection: close",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    return subprocess.run(command, capture_output=True, text=True, cwd=report.parent, timeout=1400)


def _in_part(operation: str, part: str) -> bool:
    return re.search(PARTS[part], operation.split(" ", 1)[1]) is not None


@pytest.mark.django_db
def test_the_parts_cover_every_operation():
    unassigned = {op for op in _operations() if not any(_in_part(op, part) for part in PARTS)}
    assert not unassigned, f"give these operations a part in PARTS: {sorted(unassigned)}"


@pytest.mark.parametrize("part", list(PARTS))
@pytest.mark.parametrize("role", ["staff", "student"])
def test_every_operation_conforms_to_the_schema(live_server, world, role, part, tmp_path, capsys):
    result = _run(live_server, world.tokens[role], tmp_path / "junit.xml", part)
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    with capsys.disabled():
        summary = output.strip().splitlines()[-1] if output.strip() else "no output"
        cases = generated.group(0) if generated else "?"
        print(f"\nschemathesis as {role} on {part}: {cases} cases; {summary}")
        # Its warnings name operations tested only up to 401/404 or with mostly rejected input.
        print(output.split("\nWarnings:\n", 1)[1].split("\n\n", 1)[0] if "\nWarnings:\n" in output else "")
    assert result.returncode == 0, output[-30000:]
    assert generated and int(generated.group(1)) > 0
    # Nothing left out: every operation was run, none skipped, and the stateful phase (sequences
    # along the links schemathesis infers between operations) ran too.
    report = ElementTree.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own report
    cases = {case.get("name") for case in report.iter("testcase")}
    assert "Stateful tests" in cases, "the stateful phase did not run"
    assert cases - {"Stateful tests"} == {op for op in _operations() if _in_part(op, part)}
    assert not list(report.iter("skipped"))
