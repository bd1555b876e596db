"""Users, machines (through the machine services and the dummy driver) and live states for the page tests."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs.preflight import JobConstraints
from jobs.services import JobSpec, job_submit
from machines.machine_types.printer_state import PrinterJobInfo, PrinterState, PrinterStatus, Temperature
from machines.registry import get_registry
from machines.services import machine_create
from tests.jobs.conftest import gcode, other_student, staff, student, upload  # noqa: F401 - fixtures
from tests.machines.dummy import fresh_registries, registry  # noqa: F401 - fixtures

__all__ = ["gcode", "upload"]


@pytest.fixture
def login():
    """A browser-like client (CSRF checks on) logged in as the user."""

    def _login(user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return _login


def csrf_post(client: Client, path: str, data: dict | None = None, **extra):
    """POST like a browser: fetch a page for the CSRF cookie, send the token with the form."""
    client.get("/jobs/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": token}, **extra)


@pytest.fixture
def printer(registry):  # noqa: F811 - the imported fixture
    """Create a 3D printer through the machine services, driven by the dummy driver."""

    def _printer(name="mk4", *, materials=("PLA", "PETG"), volume=(250, 210, 220), tags=()):
        config = machine_create(
            name=name,
            machine_type="printer-3d",
            driver="dummy-printer",
            settings={
                "HOST": f"{name}.lab",
                "BUILD_VOLUME_X": volume[0],
                "BUILD_VOLUME_Y": volume[1],
                "BUILD_VOLUME_Z": volume[2],
                "NOZZLE_DIAMETER": 0.4,
                "LOADED_MATERIALS": list(materials),
                "TAGS": list(tags),
            },
        )
        assert get_registry().get_machine(config.pk).initialized
        return config

    return _printer


def report(config, state: PrinterState) -> None:
    """The printer reports ``state``; the registry polls it as the runtime would (live state via the driver)."""
    machines = get_registry()
    machines.get_driver("dummy-printer").states[config.name] = state
    machines.poll(machines.get_machine(config.pk))


def printing_state(file_name: str, *, progress=42.0, time_left=1800.0) -> PrinterState:
    return PrinterState(
        status=PrinterStatus.PRINTING,
        temperatures={
            "tool0": Temperature(actual=214.6, target=215.0),
            "tool1": Temperature(actual=25.3, target=0.0),
            "bed": Temperature(actual=59.8, target=60.0),
        },
        job=PrinterJobInfo(file_name=file_name, progress=progress, time_used=600.0, time_left=time_left),
        raw_state="Printing",
    )


@pytest.fixture
def submit_job():
    """Submit through the service the pages use."""

    def _submit(user, *, name="part", content=None, constraints=None):
        spec = JobSpec(
            file=upload(content, f"{name}.gcode"), name=name, constraints=constraints or JobConstraints()
        )
        return job_submit(user=user, spec=spec)

    return _submit


def start_printing(job, machine):
    """Take a queued job onto a machine the way the scheduler does (services, with events)."""
    from jobs.services import job_transition

    job_transition(job=job, to_state="dispatching", actor_kind="scheduler", changes={"machine": machine})
    job_transition(job=job, to_state="uploaded", actor_kind="scheduler")
    return job_transition(job=job, to_state="printing", actor_kind="reconciler")
