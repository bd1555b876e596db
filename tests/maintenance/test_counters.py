"""Counters grow from what the simulated printer reports: a print that fails mid-way counts as a failed
job and takes its share of filament; a print started by hand at the printer counts too."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job
from jobs.services.dispatch import job_dispatch
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from maintenance.models import MachineCounters
from materials.models import MaterialType, SpoolDeduction
from materials.services import spool_create, spool_load
from tests.jobs.dispatch_support import farm, gcode, jobs_simulator, submit_job  # noqa: F401 - fixtures
from tests.jobs.test_reconciler import poll_until

pytestmark = pytest.mark.django_db


def test_a_failed_print_and_a_print_started_by_hand_are_counted(farm):  # noqa: F811
    MaterialType.objects.create(name="PLA", density=Decimal("1.24"))
    student = get_user_model().objects.create_user("stud")
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool = spool_create(material="PLA", initial_grams=Decimal("1000"))
    spool_load(spool=spool, machine=mk4)
    submit_job(student, name="doomed", content=gcode(seconds=600) + b"; filament used [g] = 100\n")
    [job] = schedule_run()
    job_dispatch(job_id=job.pk)
    farm.wait_printer(mk4, lambda s: s.job and (s.job.progress or 0) > 3, what="some progress")
    farm.poll(mk4)
    farm.fault(mk4, firmware_error="Thermal runaway on the bed")
    job = poll_until(farm, mk4, Job.objects.get(pk=job.pk), JobState.FAILED)
    [row] = SpoolDeduction.objects.filter(job_id=job.pk)
    assert 0 < row.grams < 100 and abs(float(row.grams) - job.progress) <= 0.01  # 100 g x progress %
    counters = MachineCounters.objects.get(machine=mk4)
    assert (counters.jobs, counters.failed_jobs, counters.service_failed_jobs) == (1, 1, 1)
    assert counters.filament_grams == row.grams

    farm.clear_faults(mk4)
    farm.clear_bed(mk4)
    farm.poll(mk4)
    farm.manual_print(mk4, "benchy-by-hand.gcode", 20)
    farm.poll(mk4)
    external = poll_until(farm, mk4, Job.objects.get(machine=mk4, external=True), JobState.COMPLETED)
    counters.refresh_from_db()
    assert (counters.jobs, counters.failed_jobs, counters.filament_grams) == (2, 1, row.grams)
    assert SpoolDeduction.objects.get(job_id=external.pk).note == "need unknown: nothing deducted"
    spool.refresh_from_db()
    assert spool.remaining_grams == Decimal("1000") - row.grams
