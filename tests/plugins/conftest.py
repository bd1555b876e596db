from tests.machines.dummy import fresh_registries, registry  # noqa: F401 - fixtures
from tests.plugins.settings_demo import demo  # noqa: F401 - fixture
