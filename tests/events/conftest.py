"""The jobs tests' users, machines and simulated farm, reused for the event stream."""

from tests.jobs.conftest import machine, other_student, staff, student, submit  # noqa: F401 - fixtures
from tests.jobs.dispatch_support import farm, jobs_simulator, tasks  # noqa: F401 - fixtures
