"""Writes: trainings and records of who completed them (one by one, in bulk, from CSV), opening hours,
closures, quotas and which machines may run unattended. Keyword-only, validated, in transactions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model

from machines.models import MachineConfig
from mes.csvrows import csv_rows
from policies.exceptions import ImportRejected, PolicyError
from policies.models import (
    Closure,
    JobOverride,
    MachinePolicy,
    OpeningHours,
    Quota,
    Training,
    TrainingRecord,
    TrainingRequirement,
)

CSV_COLUMNS = {"username", "training", "completed_on", "trainer", "expires_on", "notes"}
CSV_REQUIRED = {"username", "training", "completed_on"}
CSV_MAX_ROWS = 5000


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
            for field, msgs in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def _save(instance: Model) -> Model:
    try:
        instance.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        raise PolicyError(_validation_message(exc), errors=errors) from exc
    instance.save()
    return instance


def training_create(*, name: str, description: str = "", given_by: str = "") -> Training:
    name = name.strip()
    if Training.objects.filter(name__iexact=name).exists():
        raise PolicyError(f"a training named {name!r} exists already", errors={"name": ["exists already"]})
    return _save(Training(name=name, description=description, given_by=given_by))


def training_require(
    *, training: Training, machine_type: str = "", machine: MachineConfig | None = None
) -> TrainingRequirement:
    """Require ``training`` for every machine of a type, or for one machine."""
    return _save(TrainingRequirement(training=training, machine_type=machine_type, machine=machine))


def training_record_create(
    *,
    user,
    training: Training,
    completed_on: date,
    trainer=None,
    trainer_name: str = "",
    expires_on: date | None = None,
    notes: str = "",
) -> TrainingRecord:
    if expires_on is not None and expires_on < completed_on:
        raise PolicyError("a training expires on or after the day it was completed")
    return _save(
        TrainingRecord(
            user=user,
            training=training,
            completed_on=completed_on,
            trainer=trainer,
            trainer_name=trainer_name,
            expires_on=expires_on,
            notes=notes,
        )
    )


@transaction.atomic
def training_record_bulk(
    *,
    users: Iterable,
    training: Training,
    completed_on: date,
    trainer=None,
    trainer_name: str = "",
    expires_on: date | None = None,
) -> list[TrainingRecord]:
    """The same training for several users at once (the admin action); all or none."""
    return [
        training_record_create(
            user=user,
            training=training,
            completed_on=completed_on,
            trainer=trainer,
            trainer_name=trainer_name,
            expires_on=expires_on,
        )
        for user in users
    ]


def _date(value: str, column: str, *, required: bool) -> date | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise PolicyError(f"{column} is required")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PolicyError(f"{column} {value!r} is not a date (write YYYY-MM-DD)") from exc


def training_records_import_csv(*, text: str) -> list[TrainingRecord]:
    """Import training records from CSV: header row; ``username``, ``training`` (its name) and
    ``completed_on`` (YYYY-MM-DD) required; ``trainer`` (a username, else kept as a name), ``expires_on``
    and ``notes`` optional. All or nothing: any bad row rejects the file with every row's error."""
    users = get_user_model().objects
    trainings = {t.name.lower(): t for t in Training.objects.all()}
    errors: list[dict] = []
    created: list[TrainingRecord] = []
    rows = csv_rows(
        text, required=CSV_REQUIRED, columns=CSV_COLUMNS, max_rows=CSV_MAX_ROWS, error=ImportRejected
    )
    with transaction.atomic():
        for number, row in rows:
            try:
                username = row.get("username", "")
                user = users.filter(**{users.model.USERNAME_FIELD: username}).first() if username else None
                if user is None:
                    raise PolicyError(f"no user {username!r}" if username else "username is required")
                training = trainings.get(row.get("training", "").lower())
                if training is None:
                    known = ", ".join(sorted(t.name for t in trainings.values())) or "none yet"
                    raise PolicyError(f"unknown training {row.get('training', '')!r} (the lab has: {known})")
                completed = _date(row.get("completed_on", ""), "completed_on", required=True)
                expires = _date(row.get("expires_on", ""), "expires_on", required=False)
                trainer_text = row.get("trainer", "")
                trainer = (
                    users.filter(**{users.model.USERNAME_FIELD: trainer_text}).first()
                    if trainer_text
                    else None
                )
                with transaction.atomic():
                    created.append(
                        training_record_create(
                            user=user,
                            training=training,
                            completed_on=completed,
                            trainer=trainer,
                            trainer_name="" if trainer else trainer_text,
                            expires_on=expires,
                            notes=row.get("notes", ""),
                        )
                    )
            except PolicyError as exc:
                errors.append({"row": number, "error": exc.message})
        if errors:
            raise ImportRejected(f"{len(errors)} row(s) have errors; nothing was imported", rows=errors)
    return created


def opening_hours_add(*, weekday: int, opens: time, closes: time) -> OpeningHours:
    return _save(OpeningHours(weekday=weekday, opens=opens, closes=closes))


def closure_create(*, start_date: date, end_date: date, reason: str = "") -> Closure:
    return _save(Closure(start_date=start_date, end_date=end_date, reason=reason))


def quota_create(
    *,
    user=None,
    group=None,
    period: str = Quota.Period.WEEK,
    term_start: date | None = None,
    term_end: date | None = None,
    max_hours: Decimal | float | None = None,
    max_grams: Decimal | float | None = None,
) -> Quota:
    return _save(
        Quota(
            user=user,
            group=group,
            period=period,
            term_start=term_start,
            term_end=term_end,
            max_hours=None if max_hours is None else Decimal(str(max_hours)),
            max_grams=None if max_grams is None else Decimal(str(max_grams)),
        )
    )


def machine_unattended_set(*, machine: MachineConfig, allowed: bool) -> MachinePolicy:
    policy, _ = MachinePolicy.objects.update_or_create(
        machine=machine, defaults={"unattended_allowed": allowed}
    )
    return policy


def job_override_set(*, job_id, ignore_opening_hours: bool, user=None, reason: str = "") -> JobOverride:
    """Let a job start outside opening hours (or take that back)."""
    override, _ = JobOverride.objects.update_or_create(
        job_id=job_id,
        defaults={"ignore_opening_hours": ignore_opening_hours, "created_by": user, "reason": reason[:200]},
    )
    return override
