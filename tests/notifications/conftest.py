from tests.jobs.conftest import machine, other_student, staff, student, submit  # noqa: F401 - fixtures
