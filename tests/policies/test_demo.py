"""make run's demo fleet starts with opening hours, half the printers allowed to run unattended and an
"FDM basics" training staff hold, so a new student sees a refusal naming it (seeded idempotently)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.estimates import job_estimates
from jobs.exceptions import JobValidationError
from machines.models import MachineConfig
from mes.signals import demo_fleet_registered
from policies.models import MachinePolicy, OpeningHours, Training, TrainingRecord
from tests.jobs.dispatch_support import submit_job

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_hours_a_training_and_unattended_printers_once(farm):
    admin = get_user_model().objects.create_superuser("admin", "admin@lab.test", "pw")
    machines = [farm.add_machine(f"sim-{n:03d}") for n in range(1, 5)]
    ids = [m.pk for m in machines]
    demo_fleet_registered.send(sender=None, machine_ids=ids)
    demo_fleet_registered.send(sender=None, machine_ids=ids)  # every `make run`
    assert OpeningHours.objects.count() == 5
    assert list(Training.objects.values_list("name", flat=True)) == ["FDM basics"]
    assert TrainingRecord.objects.filter(user=admin).count() == 1
    allowed = dict(MachinePolicy.objects.values_list("machine__name", "unattended_allowed"))
    assert allowed == {"sim-001": True, "sim-002": True, "sim-003": False, "sim-004": False}

    newcomer = get_user_model().objects.create_user("newcomer")
    with pytest.raises(JobValidationError) as refused:
        submit_job(newcomer, name="first print")
    reason = refused.value.extra["reasons"][0]
    assert reason.startswith("needs the training 'FDM basics' (given by Lab staff, at the lab desk")
    job = submit_job(admin, name="staff print")
    assert job_estimates(jobs=[job])[job.pk].start is not None
    assert MachineConfig.objects.count() == 4
