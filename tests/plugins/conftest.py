from tests.machines.dummy import fresh_registries, registry  # noqa: F401 - fixtures
