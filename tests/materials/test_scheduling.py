"""The scheduler and spools on the real simulator: a job waits (and says why) until a fitting spool
is loaded; a finished or cancelled print is deducted; maintenance takes a machine out of scheduling."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from jobs.exceptions import JobValidationError
from jobs.models import Job
from jobs.preflight import JobConstraints
from jobs.services import job_request_cancel
from jobs.services.control import job_control
from jobs.services.dispatch import job_dispatch
from jobs.services.scheduler import schedule_run
from jobs.states import JobState
from machines.machine_types.printer_state import ACTIVE_STATUSES
from maintenance.models import MachineCounters
from maintenance.services import maintenance_end, maintenance_start
from materials.models import Spool, SpoolDeduction
from materials.services import spool_create, spool_load
from tests.jobs.dispatch_support import gcode, submit_job
from tests.jobs.test_reconciler import poll_until
from tests.materials import slicer_files
from tests.materials.conftest import client_for

pytestmark = pytest.mark.django_db


def spool(material: str, grams: str, colour: str = "", hex_: str = "") -> Spool:
    return spool_create(
        material=material,
        initial_grams=Decimal("1000"),
        remaining_grams=Decimal(grams),
        colour_name=colour,
        colour_hex=hex_,
    )


def timed_part(seconds: float, grams: str = "12.50") -> bytes:
    return gcode(seconds=seconds) + f"; filament used [g] = {grams}\n".encode()


def test_a_petg_job_waits_with_the_reason_until_a_fitting_spool_is_loaded(farm, pla, petg, student, staff):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool_load(spool=spool("PLA", "800"), machine=mk4, tool=0)
    job = submit_job(student, name="petg-part", content=slicer_files.orcaslicer())  # PETG, 42.82 g
    assert schedule_run() == []

    # Need 42.82 g + 10 % + 5 g margin = 52.1 g.
    waiting = "waiting: no loaded PETG spool with ≥ 52 g"
    items = client_for(student).get("/api/jobs/queue/").json()["items"]
    assert [(i["name"], i["waiting_reason"]) for i in items] == [("petg-part", waiting)]
    assert client_for(student).get(f"/api/jobs/{job.pk}/").json()["waiting_reason"] == waiting
    browser = Client()
    browser.force_login(student)
    assert waiting in browser.get("/jobs/").content.decode()

    almost = spool("PETG", "50")
    spool_load(spool=almost, machine=mk4, tool=0, user=staff)  # swaps the PLA out: 50 g is not enough
    assert schedule_run() == []
    spool_load(spool=spool("PETG", "700"), machine=mk4, tool=0, user=staff)
    [done] = schedule_run()
    assert done.pk == job.pk and done.machine_id == mk4.pk
    assert client_for(student).get(f"/api/jobs/{job.pk}/").json()["waiting_reason"] == ""


def test_a_job_that_asks_for_a_colour_waits_for_that_colour(farm, petg, student):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool_load(spool=spool("PETG", "900", "Ocean Blue", "#1E5AA8"), machine=mk4)
    submit_job(
        student, name="orange", content=slicer_files.orcaslicer(), constraints=JobConstraints(colour="Orange")
    )
    assert schedule_run() == []
    reason = client_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"]
    assert reason == "waiting: no loaded PETG Orange spool with ≥ 52 g"
    spool_load(spool=spool("PETG", "900", "Orange", "#F26B1D"), machine=mk4)
    assert len(schedule_run()) == 1


def test_need_unknown_is_accepted_and_only_the_material_is_checked(farm, pla, petg, student):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool_load(spool=spool("PLA", "3"), machine=mk4)  # far too little for any real print
    job = submit_job(
        student,
        name="no-comments",
        content=slicer_files.no_filament_comments(),
        constraints=JobConstraints(material="PETG"),
    )
    assert job.metadata["filament_need"]["known"] is False
    assert schedule_run() == []
    reason = client_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"]
    assert reason == "waiting: no loaded PETG spool"
    spool_load(spool=spool("PETG", "3"), machine=mk4)
    assert len(schedule_run()) == 1  # 3 g of PETG: the material fits, the need is unknown


def test_an_unknown_material_is_refused_at_upload_once_spools_are_tracked(pla, student, machine):
    spool("PLA", "500")
    with pytest.raises(JobValidationError) as exc:
        submit_job(student, name="typo", constraints=JobConstraints(material="PTEG"))
    assert "unknown material 'PTEG' (the lab has: PLA)" in exc.value.extra["reasons"]
    assert not Job.objects.exists()


def test_a_finished_print_is_deducted_and_counted(farm, pla, student):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    loaded = spool("PLA", "800")
    spool_load(spool=loaded, machine=mk4)
    job = submit_job(student, name="bracket", content=timed_part(30, grams="12.50"))
    [job] = schedule_run()
    assert job_dispatch(job_id=job.pk).result == "printing"
    job = poll_until(farm, mk4, Job.objects.get(pk=job.pk), JobState.COMPLETED)
    loaded.refresh_from_db()
    assert loaded.remaining_grams == Decimal("787.50")
    assert list(SpoolDeduction.objects.filter(job_id=job.pk).values_list("grams", flat=True)) == [
        Decimal("12.50")
    ]
    counters = MachineCounters.objects.get(machine=mk4)
    assert (counters.jobs, counters.failed_jobs, counters.filament_grams) == (1, 0, Decimal("12.50"))
    assert counters.print_seconds == int((job.finished_at - job.started_at).total_seconds()) > 0
    assert counters.service_jobs == 1
    # The reconciler seeing the end again deducts nothing more.
    farm.poll(mk4)
    loaded.refresh_from_db()
    assert loaded.remaining_grams == Decimal("787.50")


def test_a_cancelled_print_is_deducted_in_proportion_to_its_progress(farm, pla, student, tasks):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    loaded = spool("PLA", "1000")
    spool_load(spool=loaded, machine=mk4)
    job = submit_job(student, name="long", content=timed_part(600, grams="100.00"))
    [job] = schedule_run()
    job_dispatch(job_id=job.pk)
    farm.wait_printer(mk4, lambda s: s.job and (s.job.progress or 0) > 3, what="some progress")
    farm.poll(mk4)
    job_request_cancel(job=job.pk, user=student)
    job_control(job_id=job.pk, action="cancel")
    job = poll_until(farm, mk4, Job.objects.get(pk=job.pk), JobState.CANCELLED)
    [row] = SpoolDeduction.objects.filter(job_id=job.pk)
    assert 0 < row.grams < Decimal("100")
    assert abs(float(row.grams) - job.progress) <= 0.01  # 100 g x progress %
    loaded.refresh_from_db()
    assert loaded.remaining_grams == Decimal("1000") - row.grams


def test_maintenance_takes_a_machine_out_without_touching_its_running_print(farm, pla, student, staff):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool_load(spool=spool("PLA", "900"), machine=mk4)
    job = submit_job(student, name="running", content=timed_part(40))
    [job] = schedule_run()
    job_dispatch(job_id=job.pk)
    farm.wait_printer(mk4, lambda s: s.job and (s.job.progress or 0) > 2, what="printing")

    maintenance_start(machine=mk4, reason="nozzle swap after this print", user=staff)
    farm.poll(mk4)
    assert Job.objects.get(pk=job.pk).state == JobState.PRINTING
    state = farm.wait_printer(mk4, lambda s: s.job is not None, timeout=2, what="the print")
    assert state.status in ACTIVE_STATUSES and state.job.file_name.endswith(job.printer_file_name)
    waiting = submit_job(student, name="next", content=timed_part(30))
    job = poll_until(farm, mk4, Job.objects.get(pk=job.pk), JobState.COMPLETED)  # finishes undisturbed
    assert job.progress == 100.0 and farm.snapshot(mk4)["prints_started"] == 1
    farm.clear_bed(mk4)
    from jobs.services.bed import machine_bed_clear

    machine_bed_clear(machine_id=mk4.pk, user=staff)
    farm.poll(mk4)
    assert schedule_run() == []
    reason = client_for(student).get("/api/jobs/queue/").json()["items"][0]["waiting_reason"]
    assert reason == "waiting: every machine that fits is in maintenance"
    maintenance_end(machine=mk4, user=staff)
    [done] = schedule_run()
    assert done.pk == waiting.pk


def test_the_job_page_shows_the_need_why_it_waits_and_what_it_used(farm, petg, student):
    mk4 = farm.add_machine("mk4")
    farm.poll(mk4)
    spool_load(spool=spool("PETG", "20"), machine=mk4)
    job = submit_job(student, name="petg-part", content=slicer_files.orcaslicer())
    browser = Client()
    browser.force_login(student)
    html = browser.get(f"/jobs/{job.pk}/").content.decode()
    assert "T0 PETG 42.8 g" in html
    assert "waiting: no loaded PETG spool with ≥ 52 g" in html


def test_with_spools_tracked_the_loaded_materials_setting_no_longer_decides(farm, pla, petg, student):
    only_pla = farm.add_machine("mk4", materials="PLA")  # the setting says PLA …
    farm.poll(only_pla)
    spool_load(spool=spool("PETG", "900"), machine=only_pla)  # … but PETG is on the tool
    job = submit_job(student, name="petg-part", content=slicer_files.orcaslicer())  # accepted at upload
    [done] = schedule_run()
    assert done.pk == job.pk


def test_a_scheduler_run_reads_spools_and_maintenance_once_whatever_the_fleet_size(
    farm, petg, student, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from machines.registry import MachineRegistry

    # The registry's generation check (one cache read, at most every 0.5 s) would land in one run and
    # not the other depending on timing alone; this process made every change, so it need not look.
    monkeypatch.setattr(MachineRegistry, "check_interval", 3600.0)

    def run_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert schedule_run() == []  # nothing fits: every job is compared with every machine
        return len(captured)

    machines = [farm.add_machine(f"p{n}") for n in range(6)]
    submit_job(
        student, name="orange", content=slicer_files.orcaslicer(), constraints=JobConstraints(colour="Orange")
    )
    for machine in machines[:2]:
        farm.poll(machine)
        spool_load(spool=spool("PETG", "900", "Blue"), machine=machine)
    small = run_queries()
    for machine in machines[2:]:
        farm.poll(machine)
        spool_load(spool=spool("PETG", "900", "Blue"), machine=machine)
    assert run_queries() == small
    # The runs did compare the job with those machines: an Orange spool on the last one takes it.
    spool_load(spool=spool("PETG", "900", "Orange"), machine=machines[-1])
    [done] = schedule_run()
    assert done.machine_id == machines[-1].pk
