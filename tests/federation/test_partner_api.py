"""What an approved partner sees and submits: machines with ETag, stats, idempotent job PUT, quotas."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError

from federation.models import IncomingJob
from federation.services.jobs import job_forward
from machines.models import MachineConfig, MachineSetting
from tests.federation.conftest import make_partner
from tests.federation.test_security import job_body

pytestmark = pytest.mark.django_db

MACHINES = "/api/federation/v1/machines/"
STATS = "/api/federation/v1/stats/"


def machine(name: str, **settings) -> MachineConfig:
    config = MachineConfig.objects.create(name=name, machine_type="printer-3d", driver="simulator")
    for key, value in settings.items():
        MachineSetting.objects.create(machine=config, key=key, value=value, config_type="M")
    return config


def test_partner_sees_only_shared_machines_with_their_details(client, remote_lab):
    shared = machine(
        "Prusa-1",
        LOADED_MATERIALS='["PLA", "PETG"]',
        NOZZLE_DIAMETER="0.4",
        BUILD_VOLUME_X="250",
        BUILD_VOLUME_Y="210",
        BUILD_VOLUME_Z="210",
    )
    machine("Tagged", TAGS='["federation"]')
    machine("Private-Resin")
    make_partner(remote_lab, granted=["machines:read"], shared_machines=[shared], shared_tags=["federation"])
    response = remote_lab.call(client, "GET", MACHINES)
    assert response.status_code == 200
    data = response.json()
    assert [m["name"] for m in data] == ["Prusa-1", "Tagged"]
    assert data[0]["materials"] == ["PLA", "PETG"]
    assert data[0]["nozzle_diameter"] == 0.4
    assert data[0]["build_volume"] == {"x": 250.0, "y": 210.0, "z": 210.0}
    assert {"state", "queue_length", "estimated_wait_seconds"} <= set(data[0])


def test_machines_etag_answers_304_until_something_changes(client, remote_lab):
    shared = machine("Prusa-1", LOADED_MATERIALS='["PLA"]')
    make_partner(remote_lab, granted=["machines:read"], share_all_machines=True)
    first = remote_lab.call(client, "GET", MACHINES)
    etag = first["ETag"]
    data, headers = remote_lab.signed("GET", MACHINES)
    from tests.federation.conftest import send

    headers["If-None-Match"] = etag
    assert send(client, "GET", MACHINES, data, headers).status_code == 304
    MachineSetting.objects.filter(machine=shared).update(value='["PETG"]')
    data, headers = remote_lab.signed("GET", MACHINES)
    headers["If-None-Match"] = etag
    changed = send(client, "GET", MACHINES, data, headers)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()[0]["materials"] == ["PETG"]


def put_job(client, lab, job_id, body):
    path = f"/api/federation/v1/jobs/{job_id}/"
    return lab.call(client, "PUT", path, body=body, idempotency_key=str(job_id))


def test_job_put_is_idempotent_and_conflicts_on_a_different_body(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit", "jobs:read"])
    job_id = uuid.uuid4()
    first = put_job(client, remote_lab, job_id, job_body())
    assert first.status_code == 202, first.content
    assert first.json()["state"] == "pending_acceptance"
    again = put_job(client, remote_lab, job_id, job_body())
    assert again.status_code == 202 and again.json() == first.json()
    assert IncomingJob.objects.count() == 1
    different = put_job(client, remote_lab, job_id, job_body(name="other"))
    assert different.status_code == 409
    assert different.json()["code"] == "idempotency_conflict"
    incoming = IncomingJob.objects.get()
    assert incoming.name == "bracket"
    assert incoming.file.read() == b"G28\nG1 X10\n"
    status = remote_lab.call(client, "GET", f"/api/federation/v1/jobs/{job_id}/")
    assert status.json()["state"] == "pending"


def test_bad_job_bodies_get_400_with_the_reason(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"])
    response = put_job(client, remote_lab, uuid.uuid4(), job_body(sha256="0" * 64))
    assert response.status_code == 400
    assert "sha256 does not match" in str(response.json())
    assert not IncomingJob.objects.exists()


def test_quota_jobs_per_day_and_max_print_hours(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"], jobs_per_day=1, max_print_hours="2")
    too_long = put_job(client, remote_lab, uuid.uuid4(), job_body(estimated_print_seconds=3 * 3600))
    assert too_long.status_code == 429 and "at most 2.00 hours" in too_long.json()["detail"]
    assert put_job(client, remote_lab, uuid.uuid4(), job_body()).status_code == 202
    over = put_job(client, remote_lab, uuid.uuid4(), job_body())
    assert over.status_code == 429
    assert over.json()["code"] == "quota_exceeded"
    assert IncomingJob.objects.count() == 1


def test_a_partner_that_under_declares_print_time_is_held_to_the_files_own_estimate(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"], max_print_hours="2")
    five_hours = b"; estimated printing time (normal mode) = 5h 0m 0s\nG28\nG1 X10\n"
    claimed = job_body(gcode=five_hours, estimated_print_seconds=600)  # "ten minutes"
    answer = put_job(client, remote_lab, uuid.uuid4(), claimed)
    assert answer.status_code == 429
    assert answer.json()["detail"] == (
        "Quota exceeded: jobs may take at most 2.00 hours; this one takes 5.0 h by its G-code's own estimate."
    )
    assert not IncomingJob.objects.exists()
    # Without a declared estimate the file's own is enough.
    short = b"; estimated printing time (normal mode) = 1h 0m 0s\nG28\nG1 X10\n"
    body = job_body(gcode=short)
    del body["estimated_print_seconds"]
    assert put_job(client, remote_lab, uuid.uuid4(), body).status_code == 202


def test_submit_scope_does_not_allow_reading(client, remote_lab):
    make_partner(remote_lab, granted=["jobs:submit"])
    job_id = uuid.uuid4()
    put_job(client, remote_lab, job_id, job_body())
    response = remote_lab.call(client, "GET", f"/api/federation/v1/jobs/{job_id}/")
    assert response.status_code == 403 and "jobs:read" in response.json()["detail"]


def test_a_job_that_came_from_a_partner_is_never_forwarded_onward(remote_lab):
    partner = make_partner(remote_lab, granted=["jobs:submit"])
    incoming = IncomingJob.objects.create(
        partner=partner,
        origin_job_id=uuid.uuid4(),
        request_digest="x",
        response_status=202,
        name="n",
        sha256="s",
        local_job_id=uuid.uuid4(),
    )
    with pytest.raises(ValidationError, match="cannot be forwarded"):
        job_forward(partner=partner, origin_job_id=incoming.local_job_id, name="n", gcode=b"G28")
    with pytest.raises(ValidationError, match="cannot be forwarded"):
        job_forward(
            partner=partner, origin_job_id=uuid.uuid4(), name="n", gcode=b"G28", owner_id=partner.user_id
        )


def test_availability_reports_live_state_and_the_queue_a_machine_could_take(client, remote_lab):
    from django.contrib.auth import get_user_model

    from jobs.models import Job
    from machines.machine_types.printer_3d import Printer3DStatus
    from machines.state import update_state

    printer = machine("Prusa-1", LOADED_MATERIALS='["PLA"]')
    make_partner(remote_lab, granted=["machines:read"], share_all_machines=True)
    printing = int(Printer3DStatus.PRINTING)
    update_state(printer.pk, lambda raw: raw.update(status=printing), default_status=500, seen=True)
    owner = get_user_model().objects.create_user("student")
    for seconds in (600, 1200):
        Job.objects.create(
            owner=owner,
            name="part",
            printer_file_name=f"{uuid.uuid4()}.gcode",
            state="queued",
            position=seconds,
            metadata={"estimated_time_s": seconds},
        )
    Job.objects.create(  # another machine type's job is not in this machine's queue
        owner=owner, name="label", printer_file_name="x.gcode", state="queued", machine_type="label-printer"
    )
    data = remote_lab.call(client, "GET", MACHINES).json()
    assert data[0]["state"] == "printing"
    assert data[0]["stale"] is False
    assert data[0]["queue_length"] == 2
    assert data[0]["estimated_wait_seconds"] == 1800


@pytest.mark.parametrize("seconds", [10**30, -1, 365 * 24 * 3600 + 1, True, "3600"])
def test_out_of_range_print_estimates_are_a_400_on_the_field(client, remote_lab, seconds):
    make_partner(remote_lab, granted=["jobs:submit"])
    response = put_job(client, remote_lab, uuid.uuid4(), {**job_body(), "estimated_print_seconds": seconds})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"]["estimated_print_seconds"] == [
        "Must be a whole number of seconds from 0 to 31536000 (a year)."
    ]
    assert not IncomingJob.objects.exists()
