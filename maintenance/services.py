"""Writes: usage counted once per job, maintenance mode on/off, work completed, out-of-order reports."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from events.services import event_record
from events.types import EventType
from machines.models import MachineConfig
from maintenance.models import (
    MachineCounters,
    MachineUsage,
    MaintenanceMode,
    MaintenancePlan,
    MaintenanceRecord,
    OutOfOrderReport,
)
from maintenance.selectors import plan_status, plans_for

logger = logging.getLogger(__name__)


class MaintenanceError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MaintenanceConflict(MaintenanceError):
    status_code = 409


def _machine(machine: MachineConfig | str | uuid.UUID) -> MachineConfig:
    if isinstance(machine, MachineConfig):
        return machine
    found = MachineConfig.objects.filter(pk=machine).first()
    if found is None:
        raise MaintenanceError(f"machine {machine} does not exist")
    return found


def _counters_locked(machine: MachineConfig) -> MachineCounters:
    MachineCounters.objects.get_or_create(machine=machine, defaults={"commissioned_at": machine.created_at})
    return MachineCounters.objects.select_for_update().get(machine=machine)


def _actor(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


@transaction.atomic
def machine_usage_record(
    *, job_id: uuid.UUID | str, machine_id, print_seconds: float, filament_grams: float, failed: bool
) -> bool:
    """Add one ended job to its machine's counters; False (nothing changed) when it was counted before.

    Called inside the job's terminal transition, so counting commits with the end of the job.
    """
    job_uuid = uuid.UUID(str(job_id))
    if MachineUsage.objects.filter(job_id=job_uuid).exists():
        return False
    machine = _machine(machine_id)
    seconds = max(int(print_seconds), 0)
    grams = Decimal(str(round(max(filament_grams, 0.0), 2)))
    try:
        with transaction.atomic():
            MachineUsage.objects.create(
                job_id=job_uuid, machine=machine, print_seconds=seconds, filament_grams=grams, failed=failed
            )
    except IntegrityError:
        return False
    counters = _counters_locked(machine)
    MachineCounters.objects.filter(pk=counters.pk).update(
        print_seconds=F("print_seconds") + seconds,
        service_print_seconds=F("service_print_seconds") + seconds,
        filament_grams=F("filament_grams") + grams,
        service_filament_grams=F("service_filament_grams") + grams,
        jobs=F("jobs") + 1,
        service_jobs=F("service_jobs") + 1,
        failed_jobs=F("failed_jobs") + int(failed),
        service_failed_jobs=F("service_failed_jobs") + int(failed),
    )
    machine_plans_enforce(machine=machine)
    return True


@transaction.atomic
def maintenance_start(
    *,
    machine: MachineConfig | str,
    reason: str,
    user=None,
    automatic: bool = False,
    plan: MaintenancePlan | None = None,
) -> MaintenanceMode:
    """Take a machine out of scheduling now. A print already running is left alone: it finishes, and
    the scheduler gives the machine nothing new until maintenance ends."""
    machine = _machine(machine)
    reason = (reason or "").strip()
    if not reason:
        raise MaintenanceError("say why the machine goes into maintenance (reason)")
    MachineConfig.objects.select_for_update().filter(pk=machine.pk).first()
    current = MaintenanceMode.objects.filter(machine=machine, ended_at__isnull=True).first()
    if current is not None:
        if automatic:
            return current
        raise MaintenanceConflict(f"{machine.name} is already in maintenance: {current.reason}")
    mode = MaintenanceMode.objects.create(
        machine=machine, reason=reason[:2000], automatic=automatic, plan=plan, started_by=_actor(user)
    )
    event_record(
        type=EventType.MACHINE_MAINTENANCE,
        payload={
            "name": machine.name,
            "reason": mode.reason,
            "automatic": automatic,
            "plan": plan.name if plan else None,
        },
        actor_kind="user" if mode.started_by_id else "system",
        actor=mode.started_by.get_username() if mode.started_by_id else "",
        machine_id=machine.pk,
    )
    logger.info("%s goes into maintenance: %s", machine.name, reason)
    return mode


@transaction.atomic
def maintenance_end(*, machine: MachineConfig | str, user=None) -> MaintenanceMode:
    """Back to scheduling; refused while an out-of-order report is open (resolve it first)."""
    machine = _machine(machine)
    MachineConfig.objects.select_for_update().filter(pk=machine.pk).first()
    mode = MaintenanceMode.objects.filter(machine=machine, ended_at__isnull=True).first()
    if mode is None:
        raise MaintenanceConflict(f"{machine.name} is not in maintenance")
    open_report = OutOfOrderReport.objects.filter(machine=machine, resolved_at__isnull=True).first()
    if open_report is not None:
        raise MaintenanceConflict(
            f"{machine.name} is reported out of order ({open_report.reason}); resolve the report first"
        )
    mode.ended_at = timezone.now()
    mode.ended_by = _actor(user)
    mode.save(update_fields=["ended_at", "ended_by"])
    event_record(
        type=EventType.MACHINE_MAINTENANCE_ENDED,
        payload={"name": machine.name, "reason": mode.reason},
        actor_kind="user" if mode.ended_by_id else "system",
        actor=mode.ended_by.get_username() if mode.ended_by_id else "",
        machine_id=machine.pk,
    )
    return mode


@transaction.atomic
def maintenance_complete(
    *,
    machine: MachineConfig | str,
    user,
    plan: MaintenancePlan | int | None = None,
    notes: str = "",
    end_maintenance: bool = True,
) -> MaintenanceRecord:
    """Record work done: who, what (the plan, notes) and when. The plan's interval starts again and the
    machine's since-last-service counters return to zero; ends maintenance unless a report is open."""
    machine = _machine(machine)
    if plan is not None and not isinstance(plan, MaintenancePlan):
        plan = MaintenancePlan.objects.filter(pk=plan).first()
        if plan is None:
            raise MaintenanceError("unknown maintenance plan")
    if plan is not None and not plans_for(machine=machine).filter(pk=plan.pk).exists():
        raise MaintenanceError(f"the plan {plan.name!r} does not apply to {machine.name}")
    if plan is None and not notes.strip():
        raise MaintenanceError("say what was done (a plan or notes)")
    counters = _counters_locked(machine)
    now = timezone.now()
    record = MaintenanceRecord.objects.create(
        machine=machine,
        plan=plan,
        done_by=_actor(user),
        done_at=now,
        notes=notes,
        print_seconds_at=counters.print_seconds,
    )
    MachineCounters.objects.filter(pk=counters.pk).update(
        last_service_at=now,
        service_print_seconds=0,
        service_filament_grams=0,
        service_jobs=0,
        service_failed_jobs=0,
    )
    mode = MaintenanceMode.objects.filter(machine=machine, ended_at__isnull=True).first()
    blocked = OutOfOrderReport.objects.filter(machine=machine, resolved_at__isnull=True).exists()
    if end_maintenance and mode is not None and not blocked:
        mode.ended_at, mode.ended_by = now, _actor(user)
        mode.save(update_fields=["ended_at", "ended_by"])
        actor = _actor(user)
        event_record(
            type=EventType.MACHINE_MAINTENANCE_ENDED,
            payload={"name": machine.name, "reason": mode.reason, "work": plan.name if plan else notes},
            actor_kind="user" if actor else "system",
            actor=actor.get_username() if actor else "",
            machine_id=machine.pk,
        )
    return record


@transaction.atomic
def out_of_order_report(*, machine: MachineConfig | str, user, reason: str) -> OutOfOrderReport:
    """Any staff member says a machine is broken: recorded, and the machine goes into maintenance."""
    machine = _machine(machine)
    reason = (reason or "").strip()
    if not reason:
        raise MaintenanceError("say what is wrong (reason)")
    report = OutOfOrderReport.objects.create(machine=machine, reason=reason[:2000], reported_by=_actor(user))
    if not MaintenanceMode.objects.filter(machine=machine, ended_at__isnull=True).exists():
        maintenance_start(machine=machine, reason=f"out of order: {reason}", user=user)
    return report


@transaction.atomic
def out_of_order_resolve(*, report: OutOfOrderReport | int, user, resolution: str = "") -> OutOfOrderReport:
    pk = report.pk if isinstance(report, OutOfOrderReport) else report
    locked = OutOfOrderReport.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise MaintenanceError(f"report {pk} does not exist")
    if locked.resolved_at is not None:
        raise MaintenanceConflict("the report is resolved already")
    locked.resolved_at, locked.resolved_by, locked.resolution = timezone.now(), _actor(user), resolution
    locked.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    return locked


def machine_plans_enforce(*, machine: MachineConfig) -> MaintenanceMode | None:
    """Put the machine into maintenance when an overdue plan asks for it (idempotent)."""
    for plan in plans_for(machine=machine).filter(auto_maintenance=True):
        status = plan_status(plan=plan, machine=machine)
        if status.overdue:
            return maintenance_start(
                machine=machine, reason=f"{plan.name} is overdue ({status.detail})", automatic=True, plan=plan
            )
    return None


def maintenance_sweep() -> int:
    """Every active machine with an automatic plan: enforce it. Returns how many are in maintenance."""
    count = 0
    machine_types = set(
        MaintenancePlan.objects.filter(active=True, auto_maintenance=True).values_list(
            "machine_type", flat=True
        )
    )
    machine_ids = set(
        MaintenancePlan.objects.filter(active=True, auto_maintenance=True, machine__isnull=False).values_list(
            "machine_id", flat=True
        )
    )
    applies = Q(machine_type__in=[t for t in machine_types if t]) | Q(pk__in=machine_ids)
    for machine in MachineConfig.objects.filter(active=True).filter(applies):
        with transaction.atomic():
            if machine_plans_enforce(machine=machine) is not None:
                count += 1
    return count
