"""A small seeded lab for the contract tests: users of every role, their tokens, machines, jobs in
several states, and federation records (an approved partner, a stopped one, invitations, jobs both
ways, an outbox event), so every operation has real objects to find."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, time

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from events.models import Event
from federation.models import FederationEvent, ForwardedJob, IncomingJob, Partner
from federation.services.connections import invitation_create, partner_stop
from jobs.models import Job, StagedUpload
from jobs.services import JobSpec, job_submit
from machines.models import MachineConfig
from maintenance.models import MaintenancePlan, OutOfOrderReport
from materials.models import MaterialType, Spool
from mes.models import TOKEN_SCOPE_NAMES
from mes.services import api_token_create
from policies.services import (
    closure_create,
    job_override_set,
    opening_hours_add,
    quota_create,
    training_create,
    training_record_create,
    training_require,
)
from tests.federation.conftest import RemoteLab, make_partner
from tests.jobs.conftest import gcode, make_machine, upload
from tests.jobs.helpers import make_job
from tests.jobs.thumbnail_samples import tiny_png, with_thumbnail
from webhooks.models import Delivery, Endpoint

# Every scope a token can carry, one token each (plus "*" for the all-scopes callers).
SCOPES = [scope for scope in TOKEN_SCOPE_NAMES if scope != "*"]


@dataclass
class World:
    users: dict = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # name -> raw token
    machines: list[MachineConfig] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    partners: dict[str, Partner] = field(default_factory=dict)
    labs: dict[str, RemoteLab] = field(default_factory=dict)
    webhook_endpoint_id: int | None = None
    webhook_delivery_id: str | None = None
    extra_pks: dict[str, object] = field(default_factory=dict)  # URL name prefix -> pk
    invitation_id: int | None = None
    forwarded_id: int | None = None
    incoming_id: int | None = None
    event_id: int | None = None


def seed_world(*, scope_tokens: bool = False) -> World:
    world = World()
    users = get_user_model().objects
    world.users = {
        "staff": users.create_superuser("staff", "staff@lab.test", "pw-staff-123!"),
        "student": users.create_user("student", password="pw-student-123!"),
        "other": users.create_user("other", password="pw-other-123!"),
    }
    world.tokens["staff"] = api_token_create(user=world.users["staff"], name="all", scopes=["*"])[1]
    world.tokens["student"] = api_token_create(user=world.users["student"], name="all", scopes=["*"])[1]
    if scope_tokens:
        for scope in SCOPES:
            world.tokens[scope] = api_token_create(user=world.users["staff"], name=scope, scopes=[scope])[1]

    mk4 = make_machine("mk4")
    mini = make_machine("mini", volume=(180, 180, 180))
    world.machines = [mk4, mini]
    student, other = world.users["student"], world.users["other"]
    spec = JobSpec(file=upload(with_thumbnail(gcode()), name="bracket.gcode"), name="bracket")
    world.jobs = {
        "queued": job_submit(user=student, spec=spec),
        "other_queued": make_job(other, name="other's part"),
        "printing": make_job(student, state="printing", machine=mk4, name="printing"),
        "completed": make_job(student, state="completed", machine=mini, name="done"),
        "failed": make_job(other, state="failed", machine=mini, name="failed"),
    }

    approved_lab, stopped_lab = RemoteLab("Partner Lab"), RemoteLab("Stopped Lab")
    approved = make_partner(
        approved_lab,
        granted=["machines:read", "stats:read", "jobs:submit", "jobs:read"],
        share_all_machines=True,
    )
    stopped = make_partner(stopped_lab, granted=["machines:read", "jobs:submit", "jobs:read"])
    partner_stop(partner=stopped, reason="test", notify=False)
    world.labs = {"approved": approved_lab, "stopped": stopped_lab}
    world.partners = {"approved": approved, "stopped": stopped}
    world.invitation_id = invitation_create(note="for the test", created_by=world.users["staff"])[0].pk
    world.forwarded_id = ForwardedJob.objects.create(
        partner=approved, origin_job_id=world.jobs["queued"].pk, remote_state="pending_acceptance"
    ).pk
    incoming = IncomingJob(
        partner=approved,
        origin_job_id=uuid.uuid4(),
        request_digest="0" * 64,
        response_status=202,
        response_body={"state": "pending_acceptance"},
        name="from the partner",
        sha256="0" * 64,
    )
    incoming.file.save("partner.gcode", ContentFile(gcode()), save=False)
    incoming.save()
    world.incoming_id = incoming.pk
    world.event_id = FederationEvent.objects.create(
        partner=approved, type="accepted", job_ref=str(uuid.uuid4()), sequence=1
    ).pk
    # The webhook endpoint's URL is never called here: nothing enqueues a delivery attempt.
    endpoint = Endpoint.objects.create(name="lab chat", url="https://hooks.example.org/lab", secret="s" * 32)
    world.webhook_endpoint_id = endpoint.pk
    event = Event.objects.create(type="job.completed", job_id=world.jobs["completed"].pk)
    world.webhook_delivery_id = str(Delivery.objects.create(endpoint=endpoint, event=event).pk)
    pla = MaterialType.objects.create(name="PLA", density="1.24", diameter="1.75")
    spool = Spool.objects.create(material=pla, initial_grams=1000, remaining_grams=800)
    plan = MaintenancePlan.objects.create(name="Lubricate rods", machine_type="printer-3d", every_days=30)
    report = OutOfOrderReport.objects.create(machine=mini, reason="Nozzle clogged", reported_by=student)
    training = training_create(name="Large format", given_by="workshop staff")
    requirement = training_require(training=training, machine=mini)
    record = training_record_create(user=student, training=training, completed_on=date(2026, 1, 5))
    hours = opening_hours_add(weekday=0, opens=time(9), closes=time(17))
    closure = closure_create(start_date=date(2026, 12, 24), end_date=date(2026, 12, 26), reason="holidays")
    quota = quota_create(user=student, max_hours=40)
    override = job_override_set(job_id=world.jobs["queued"].pk, ignore_opening_hours=True)
    preview = StagedUpload(
        owner=student, original_name="bracket.gcode", file_format="gcode", size=1, sha256="0" * 64
    )
    preview.file.save("bracket.gcode", ContentFile(gcode()), save=False)
    preview.thumbnail.save("thumb.png", ContentFile(tiny_png()), save=False)
    preview.save()
    world.extra_pks = {
        "jobs:preview": preview.pk,
        "material-type": pla.pk,
        "spool": spool.pk,
        "maintenance-plan": plan.pk,
        "out-of-order-report": report.pk,
        "policy-training": training.pk,
        "policy-requirement": requirement.pk,
        "policy-record": record.pk,
        "policy-hours": hours.pk,
        "policy-closure": closure.pk,
        "policy-quota": quota.pk,
        "policy-override": override.pk,
        "policy-machine": mk4.pk,
    }
    return world
