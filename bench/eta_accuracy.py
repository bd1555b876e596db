"""How right is the ETA board? A simulated lab day and a half (tests/policies/simday.py: the real
printer simulator, driver, polls, reconciler, scheduler and stored forecast on one simulated clock),
each job's predicted start at submission against the time the scheduler gave it a printer. Prints
the mean, p90 and max error in simulated minutes, and each job; asserts nothing.

    .venv/bin/python bench/eta_accuracy.py          # embedded SQLite in a temporary directory
"""

from __future__ import annotations

import time

from standalone import setup_django

setup_django("eta-accuracy-")

from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from tests.policies.simday import run_day, simulated_lab  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    saved: list[tuple[object, str, object]] = []

    def patch(target: object, name: str, value: object) -> None:
        saved.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    started = time.perf_counter()
    try:
        with (
            override_settings(TIME_ZONE="UTC", POLICIES_CLOSING_MARGIN_MINUTES=30),
            simulated_lab(patch) as (farm, clock, tasks),
        ):
            result = run_day(farm, clock, tasks)
    finally:
        for target, name, value in reversed(saved):
            setattr(target, name, value)
    wall = time.perf_counter() - started
    print(f"{'job':<10} {'predicted start':<17} {'actual start':<17} error")
    for job_id, name in result.names.items():
        predicted, actual = result.predicted.get(job_id), result.actual.get(job_id)
        error = abs((actual - predicted).total_seconds()) / 60 if predicted and actual else None
        note = "  (next opening)" if job_id in result.forced else ""
        shown = [at.strftime("%a %H:%M:%S") if at else "-" for at in (predicted, actual)]
        print(
            f"{name:<10} {shown[0]:<17} {shown[1]:<17} {error if error is None else f'{error:5.1f} min'}{note}"
        )
    print(result.summary())
    print(f"wall time {wall:.1f} s")


if __name__ == "__main__":
    main()
