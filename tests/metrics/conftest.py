from tests.jobs.conftest import machine, staff, student, submit  # noqa: F401 - fixtures
from tests.jobs.dispatch_support import farm, jobs_simulator, tasks  # noqa: F401 - fixtures
