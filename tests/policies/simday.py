"""A simulated lab day on one simulated clock, to hold the ETA board against what then happens.

Shared by ``tests/policies/test_eta_accuracy.py`` (slow) and ``bench/eta_accuracy.py`` (prints the figures).

Everything real except the clock and the worker: the printer simulator (OctoPrint personality, over
HTTP), the ``octoprint`` driver, the registry's polls, the reconciler, the scheduler, the dispatch
tasks, the stored forecast and its refresh task. The simulator's clock (``simulator.model.SimClock``)
and Django's ``timezone.now`` both read one ``SimulatedClock``, which the day moves forward event by
event (a print's end, a submission, the lab opening or closing, a staff round, else ``STEP``). Wall
time therefore does not bound the speed: a day and a half of lab time takes seconds, and nothing
depends on how fast the test machine is. Tasks are recorded and run in order at each step, as a
worker would; the periodic scheduler sweep runs at every step.

The lab: Mon-Fri 09:00-17:00 (``TIME_ZONE``), four printers, the first two attended-only. Prints
heat up first (nozzle 215 °C, bed 60 °C: about 50 s the G-code's estimate does not count); staff clear
finished plates on rounds every ``STAFF_ROUND`` minutes while the lab is open. Three students submit
a morning batch and then through the day, some long prints late in the afternoon, so attended-only
printers hold them for the next opening and unattended ones finish at night with their plate left
until morning. Each job's predicted start is read from the board's forecast right after its
submission (after the refresh task ran) and compared with the time the scheduler gave it a printer.

The simulated day lies in the past of the wall clock: the reconciler compares a poll's (wall-clock)
time with a job's (simulated) end, and must always find the poll the newer.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.estimates import job_estimates
from jobs.models import Job, JobEvent
from jobs.services.bed import machine_bed_clear
from jobs.states import ACTIVE_STATES, QUEUE_STATES, JobState
from machines.machine_types.printer_3d import BED_CLEAR_REQUIRED
from machines.registry import get_registry, reset_registry
from mes import engine
from plugins.registry import reset_plugin_registry
from policies.selectors import lab_calendar
from policies.services import machine_unattended_set, opening_hours_add
from simulator import ThreadedSimulator
from tests.jobs.dispatch_support import Farm, submit_job
from tests.jobs.dispatch_support import gcode as gcode_for

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday, 08:00, before opening
END = START + timedelta(hours=36)  # Tuesday 20:00
STEP = timedelta(minutes=5)
STAFF_ROUND = 10  # minutes between two staff rounds that clear finished plates
OPENS, CLOSES = time(9, 0), time(17, 0)
MINUTES = 60

# (minutes after START, owner index, print minutes): a morning batch, then the day's submissions.
SUBMISSIONS = [
    (0, 0, 95),
    (0, 1, 40),
    (0, 2, 180),
    (0, 0, 30),
    (0, 1, 150),
    (0, 2, 25),
    (0, 0, 70),
    (0, 1, 45),
    (75, 2, 60),
    (130, 0, 120),
    (190, 1, 35),
    (260, 2, 240),
    (330, 0, 50),
    (400, 1, 90),
    (450, 2, 300),  # 15:30: ends after closing on an attended printer
    (480, 0, 200),  # 16:00
    (500, 1, 20),
    (520, 2, 360),  # 16:40: a long print for the night
    (530, 0, 45),
]


class SimulatedClock:
    """One clock for the simulator (simulated seconds since START) and Django (``timezone.now``)."""

    speed = 1.0

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> float:  # the simulator's SimClock interface
        return self.seconds

    def datetime(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def set(self, at: datetime) -> None:
        self.seconds = (at - START).total_seconds()


@dataclass
class Tasks:
    """Stands in for the worker: what the services enqueue, run in order at each step."""

    sent: list[tuple[str, tuple]] = field(default_factory=list)

    def __call__(self, path: str, *args, **kwargs) -> None:
        self.sent.append((path, args))

    def drain(self, *, only: str = "", limit: int = 500) -> None:
        kept = []
        while self.sent and limit:
            limit -= 1
            path, args = self.sent.pop(0)
            if only and path != only:
                kept.append((path, args))
                continue
            engine.resolve(path)(*args)
        self.sent[:0] = kept


@dataclass
class DayResult:
    predicted: dict  # job id -> predicted start (at submission)
    actual: dict  # job id -> when the scheduler gave it a printer
    names: dict  # job id -> name
    forced: set  # jobs predicted at the next day's opening
    errors_min: list[float]
    steps: int

    @property
    def mean(self) -> float:
        return statistics.mean(self.errors_min)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.errors_min, n=10, method="inclusive")[-1]

    @property
    def worst(self) -> float:
        return max(self.errors_min)

    def summary(self) -> str:
        return (
            f"{len(self.errors_min)} jobs over a simulated day and a half ({self.steps} steps), "
            f"{len(self.forced)} predicted for the next opening: start error mean {self.mean:.1f} min, "
            f"p90 {self.p90:.1f} min, max {self.worst:.1f} min"
        )


@contextmanager
def simulated_lab(patch: Callable[[object, str, object], None]) -> Iterator[tuple]:
    """The simulator on the simulated clock, Django's clock and the task engine patched (``patch``:
    pytest's ``monkeypatch.setattr`` or a restoring stand-in); yields (farm, clock, tasks)."""
    clock = SimulatedClock()
    sim = ThreadedSimulator(4, "octoprint", speed=1.0).start()
    sim.fleet.clock = clock
    for printer in sim.fleet.printers:
        printer.clock = clock
    tasks = Tasks()
    patch(timezone, "now", clock.datetime)
    patch(engine, "send_now", tasks)
    reset_plugin_registry()
    reset_registry()
    indexes = itertools.count(1)
    try:
        yield Farm(sim=sim, allocate=lambda: next(indexes)), clock, tasks
    finally:
        reset_registry()
        reset_plugin_registry()
        sim.stop()


def run_day(farm: Farm, clock: SimulatedClock, tasks: Tasks) -> DayResult:
    for day in range(5):
        opening_hours_add(weekday=day, opens=OPENS, closes=CLOSES)
    machines = [farm.add_machine(name) for name in ("att-1", "att-2", "night-1", "night-2")]
    for machine in machines[2:]:
        machine_unattended_set(machine=machine, allowed=True)
    User = get_user_model()
    staff = User.objects.create_user("tech", first_name="Tess", is_staff=True)
    owners = [
        User.objects.create_user(f"s{n}", first_name=name) for n, name in enumerate(("Ada", "Grace", "Alan"))
    ]
    calendar = lab_calendar()
    registry = get_registry()

    def poll() -> None:
        for config in machines:
            registry.poll(registry.get_machine(config.pk))

    clock.set(START)
    poll()
    predicted: dict = {}
    names: dict = {}
    pending = sorted(SUBMISSIONS, key=lambda item: item[0])
    next_round = START
    t = START
    steps = 0
    while t <= END:
        steps += 1
        clock.set(t)
        poll()
        tasks.drain()
        if calendar.is_open(t) and t >= next_round:  # a staff round: clear every finished plate
            for config in machines:
                state = registry.get_machine(config.pk).state
                if state.data.get(BED_CLEAR_REQUIRED):
                    farm.clear_bed(config)
                    machine_bed_clear(machine_id=config.pk, user=staff)
            next_round = t + timedelta(minutes=STAFF_ROUND)
        while pending and START + timedelta(minutes=pending[0][0]) <= t:
            _minute, owner, length = pending.pop(0)
            job = submit_job(
                owners[owner],
                name=f"{owners[owner].first_name.lower()}-{len(names)}",
                content=gcode_for(seconds=length * MINUTES, nozzle=215, bed=60),
            )
            names[job.pk] = job.name
            # What the board says once the refresh the submission asked for has run (before the
            # scheduler's run, which may hand the job to a printer at once).
            engine.resolve("jobs.tasks.forecast_refresh")()  # the periodic tick
            predicted[job.pk] = job_estimates(jobs=[job])[job.pk].start
        engine.resolve("jobs.tasks.scheduler_run")()  # the periodic sweep
        tasks.drain()
        poll()
        tasks.drain()
        if not pending and not Job.objects.filter(state__in={*QUEUE_STATES, *ACTIVE_STATES}).exists():
            break
        t = _next_time(t, farm, pending, calendar, next_round)
    first: dict = {}
    for job_id, at in (
        JobEvent.objects.filter(to_state=JobState.DISPATCHING, job_id__in=names)
        .order_by("-created_at")
        .values_list("job_id", "created_at")
    ):
        first[job_id] = at  # the first dispatch (a requeue would dispatch again)
    actual = first
    next_day_opening = calendar.next_opening(START + timedelta(days=1))
    forced = {job_id for job_id, start in predicted.items() if start == next_day_opening}
    errors = [
        abs((actual[job_id] - predicted[job_id]).total_seconds()) / 60
        for job_id in names
        if job_id in actual and predicted.get(job_id) is not None
    ]
    return DayResult(
        predicted=predicted, actual=actual, names=names, forced=forced, errors_min=errors, steps=steps
    )


def _next_time(t: datetime, farm: Farm, pending: list, calendar, next_round: datetime) -> datetime:
    """The next instant something can happen: a print ends, a job is submitted, the lab opens or
    closes, a staff round; at most ``STEP`` ahead."""
    candidates = [t + STEP]
    for printer in farm.sim.fleet.printers:
        job = printer.job
        if job is not None and job.segment_start is not None:
            end = job.segment_start + (job.file.duration - job.printed) + 2.0  # finishing takes a second
            candidates.append(START + timedelta(seconds=end))
        elif printer.phase_until is not None:
            candidates.append(START + timedelta(seconds=printer.phase_until + 1.0))
    if pending:
        candidates.append(START + timedelta(minutes=pending[0][0]))
    interval = calendar.open_interval(t)
    if interval is not None:
        candidates.append(interval[1])
        candidates.append(next_round)
    else:
        opening = calendar.next_opening(t)
        if opening is not None:
            candidates.append(opening)
    return max(t + timedelta(seconds=1), min(c for c in candidates if c > t))
