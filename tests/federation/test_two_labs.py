"""Two real Lab MES processes (own ports, own SQLite databases, own keys) connect over HTTP.

Lab B invites lab A; A sends a signed connection request; B approves with narrowed scopes and one
shared machine; the grant reaches A's inbox through B's outbox; A reads B's availability; B stops
federation with a signed notice, and B refuses A's next request.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# The labs run the embedded default: whatever services this test run uses must not leak into them.
# PROMETHEUS_MULTIPROC_DIR: a lab's `manage.py up` empties its metrics directory at start; the test
# run's own would lose the samples of the test process (a later metrics test on this worker failed).
SCRUBBED = (
    "DATABASE_URL",
    "REDIS_URL",
    "TASK_ENGINE",
    "CELERY_BROKER_URL",
    "MEDIA_ROOT",
    "SECRET_KEY",
    "PROMETHEUS_MULTIPROC_DIR",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        var = root / name.replace(" ", "-").lower()
        var.mkdir()
        self.env = {
            k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("FEDERATION_")
        }
        self.env |= {
            "MES_VAR_DIR": str(var),
            "MES_ENV_FILE": "/dev/null",
            "MES_SITE_NAME": name,
            "DEBUG": "true",
            "FEDERATION_BASE_URL": self.url,
            "FEDERATION_HTTP_TIMEOUT": "10",
            "OUTGOING_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LOG_LEVEL": "WARNING",
        }
        self.server: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "manage.py"), *args]

    def manage(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.command(*args), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )
        if ok and result.returncode != 0:
            raise AssertionError(
                f"{self.name}: manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def start(self) -> None:
        self.server = subprocess.Popen(
            self.command("runserver", "--noreload", f"127.0.0.1:{self.port}"),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self) -> dict:

        def answers() -> dict | None:
            if self.server.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.server.returncode}")
            try:
                response = requests.get(f"{self.url}/.well-known/lab-mes", timeout=2)
            except requests.ConnectionError:
                return None  # still starting
            return response.json() if response.status_code == 200 else None

        return wait_until(answers, timeout=30, interval=0.2, message=f"{self.name} to answer")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()

    def partners(self) -> list[dict]:
        return json.loads(self.manage("federation_partners", "--json").stdout)

    def remote(self, partner: str, resource: str, *extra: str) -> dict:
        return json.loads(self.manage("federation_remote", partner, resource, *extra).stdout)


MACHINES_ON_B = """
from machines.models import MachineConfig, MachineSetting
def add(name, **values):
    machine = MachineConfig.objects.create(name=name, machine_type="printer-3d", driver="simulator")
    for key, value in values.items():
        MachineSetting.objects.create(machine=machine, key=key, value=value, config_type="M")
add("Prusa-1", LOADED_MATERIALS='["PLA", "PETG"]', NOZZLE_DIAMETER="0.4", BUILD_VOLUME_X="250")
add("Resin-1")
"""


def bootstrap(*labs: Lab) -> None:
    """Install every lab's database and identity, side by side."""
    setups = [
        subprocess.Popen(
            lab.command("bootstrap"), cwd=ROOT, env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for lab in labs
    ]
    for lab, setup in zip(labs, setups, strict=True):
        output, _ = setup.communicate(timeout=120)
        assert setup.returncode == 0, f"{lab.name} bootstrap failed:\n{output.decode()}"


@pytest.fixture
def labs(tmp_path):
    lab_a, lab_b = Lab("Lab A", tmp_path), Lab("Lab B", tmp_path)
    bootstrap(lab_a, lab_b)
    try:
        for lab in (lab_a, lab_b):
            lab.start()
        yield lab_a, lab_b
    finally:
        for lab in (lab_a, lab_b):
            lab.stop()


@pytest.mark.slow
def test_two_labs_connect_share_machines_and_stop(labs):
    lab_a, lab_b = labs
    lab_b.manage("shell", "--no-imports", "-c", MACHINES_ON_B)
    doc_a, doc_b = lab_a.wait_ready(), lab_b.wait_ready()
    assert doc_a["instance_id"] != doc_b["instance_id"]
    assert doc_b["api_base_url"] == f"{lab_b.url}/api/federation/v1/"

    # B invites A; A sends a signed connection request asking for three scopes.
    code = lab_b.manage("federation_invite", "--note", "Lab A").stdout.strip().splitlines()[-1]
    assert code.startswith("labmes-inv-")
    out = lab_a.manage(
        "federation_connect", lab_b.url, code, "--scopes", "machines:read", "stats:read", "jobs:submit"
    ).stdout
    assert "Connection request sent to Lab B" in out

    [a_on_b] = lab_b.partners()
    assert a_on_b["name"] == "Lab A" and a_on_b["state"] == "pending"
    assert a_on_b["requested_scopes"] == ["machines:read", "stats:read", "jobs:submit"]
    [b_on_a] = lab_a.partners()
    assert b_on_a["outbound_state"] == "requested"

    # The code was single-use: a second request with it is refused by B.
    reuse = lab_a.manage("federation_connect", lab_b.url, code, "--scopes", "machines:read", ok=False)
    assert reuse.returncode != 0 and "invitation was already used" in reuse.stderr

    # Before approval, B refuses A.
    early = lab_a.remote("Lab B", "machines", "--ask-anyway")
    assert early["status"] == 403 and early["data"]["code"] == "partner_not_approved"

    # B approves with narrowed scopes, one shared machine and a daily quota; the outbox tells A.
    lab_b.manage(
        "federation_approve",
        "Lab A",
        "--scopes",
        "machines:read",
        "--machines",
        "Prusa-1",
        "--jobs-per-day",
        "5",
    )
    assert "1 events delivered" in lab_b.manage("federation_deliver").stdout
    [b_on_a] = lab_a.partners()
    assert b_on_a["outbound_state"] == "approved"
    assert b_on_a["outbound_scopes"] == ["machines:read"]
    assert b_on_a["outbound_quotas"]["jobs_per_day"] == 5
    assert b_on_a["state"] == "none"  # the other direction (B using A) is approved separately

    # Availability: only the shared machine, with its details.
    machines = lab_a.remote("Lab B", "machines")
    assert machines["status"] == 200 and machines["etag"]
    assert [m["name"] for m in machines["data"]] == ["Prusa-1"]
    assert machines["data"][0]["materials"] == ["PLA", "PETG"]
    assert machines["data"][0]["nozzle_diameter"] == 0.4

    # Stats were asked for but not granted.
    stats = lab_a.remote("Lab B", "stats", "--ask-anyway")
    assert stats["status"] == 403 and stats["data"]["code"] == "scope_not_granted"

    # B stops federation; the signed notice reaches A at once.
    out = lab_b.manage("federation_stop", "Lab A", "--reason", "end of term").stdout
    assert "the partner was notified" in out
    [b_on_a] = lab_a.partners()
    assert b_on_a["stopped"] is True and b_on_a["stopped_by"] == "remote"
    assert b_on_a["stop_reason"] == "end of term"
    refused_locally = lab_a.manage("federation_remote", "Lab B", "machines", ok=False)
    assert "stopped" in refused_locally.stderr
    after = lab_a.remote("Lab B", "machines", "--ask-anyway")
    assert after["status"] == 403 and after["data"]["code"] == "partner_stopped"


SETUP = """
import json
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from machines.models import MachineConfig, MachineSetting
from mes.services import api_token_create

machine = MachineConfig.objects.create(name="Prusa-1", machine_type="printer-3d", driver="simulator")
MachineSetting.objects.create(machine=machine, key="LOADED_MATERIALS", value="PLA", config_type="M")
staff = get_user_model().objects.create_user("staff", is_staff=True)
_, token = api_token_create(user=staff, name="test", scopes=["*"])
jobs = []
if WITH_JOBS:
    from jobs.services import JobSpec, job_submit
    student = get_user_model().objects.create_user("student")
    for name in ("bracket", "hinge"):
        gcode = SimpleUploadedFile(name + ".gcode", b"G28\\nG1 X10 Y10\\n")
        jobs.append(str(job_submit(user=student, spec=JobSpec(file=gcode, name=name)).pk))
print(json.dumps({"token": token, "jobs": jobs}))
"""


class Api:
    """Lab staff using the REST API with a token (fast: no process start per step)."""

    def __init__(self, lab: Lab, token: str) -> None:
        self.lab = lab
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str):
        return self.session.get(f"{self.lab.url}/api/federation/{path}", timeout=30)

    def post(self, path: str, body: dict | None = None):
        return self.session.post(f"{self.lab.url}/api/federation/{path}", json=body or {}, timeout=30)


def setup_lab(lab: Lab, *, with_jobs: bool) -> tuple[Api, list[str]]:
    out = lab.manage("shell", "--no-imports", "-c", f"WITH_JOBS = {with_jobs}\n{SETUP}").stdout
    data = json.loads(out.strip().splitlines()[-1])
    return Api(lab, data["token"]), data["jobs"]


@pytest.mark.slow  # two installations in their own processes, on the embedded default in either pass
def test_two_labs_forward_a_job_with_quota_acceptance_and_cancel(labs):
    lab_a, lab_b = labs
    api_a, (job_1, job_2) = setup_lab(lab_a, with_jobs=True)
    api_b, _ = setup_lab(lab_b, with_jobs=False)
    lab_a.wait_ready()
    lab_b.wait_ready()

    code = api_b.post("invitations/", {"note": "Lab A"}).json()["code"]
    connected = api_a.post(
        "partners/connect/", {"base_url": lab_b.url, "code": code, "scopes": ["jobs:submit", "jobs:read"]}
    )
    assert connected.status_code == 201, connected.text
    b_id = connected.json()["id"]
    [a_on_b] = api_b.get("partners/").json()["results"]
    approved = api_b.post(
        f"partners/{a_on_b['id']}/approve/", {"scopes": ["jobs:submit", "jobs:read"], "jobs_per_day": 1}
    )
    assert approved.status_code == 200, approved.text
    assert api_b.post("events/deliver/").json() == {"delivered": 1}

    # Forward: 202 pending acceptance at B; forwarding again gives the same answer; the second job is over quota.
    first = api_a.post("forwarded-jobs/forward/", {"job": job_1, "partner": b_id})
    assert first.status_code == 201, first.text
    assert first.json()["remote_state"] == "pending_acceptance"
    assert (
        api_a.post("forwarded-jobs/forward/", {"job": job_1, "partner": b_id}).json()["id"]
        == first.json()["id"]
    )
    over = api_a.post("forwarded-jobs/forward/", {"job": job_2, "partner": b_id})
    assert over.status_code == 502 and "Quota exceeded" in over.json()["detail"]

    # B's staff accept: a normal job in B's queue, owned by lab A's service account.
    [incoming] = api_b.get("incoming-jobs/").json()["results"]
    assert incoming["name"] == "bracket" and incoming["state"] == "pending"
    accepted = api_b.post(f"incoming-jobs/{incoming['id']}/accept/")
    assert accepted.json()["state"] == "accepted", accepted.text
    assert accepted.json()["local_job_id"]
    api_b.post("events/deliver/")
    forwarded = api_a.get(f"forwarded-jobs/{first.json()['id']}/").json()
    assert forwarded["remote_state"] == "queued"  # accepted, then queued

    # A cancels; the cancel reaches B's job, and B's event tells A.
    assert api_a.post(f"forwarded-jobs/{forwarded['id']}/cancel/").status_code == 200
    assert api_b.get(f"incoming-jobs/{incoming['id']}/").json()["state"] == "cancelled"
    assert api_b.post("events/deliver/").json() == {"delivered": 1}
    forwarded = api_a.get(f"forwarded-jobs/{forwarded['id']}/").json()
    assert forwarded["remote_state"] == "cancelled"
    assert [h["type"] for h in forwarded["history"]] == ["accepted", "queued", "cancelled"]
