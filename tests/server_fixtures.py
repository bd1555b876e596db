"""Real servers shared by the whole test session (registered in the root conftest's pytest_plugins).

One real OctoPrint per session, whichever test directories ask for it.
"""

from __future__ import annotations

import pytest

from tests.services import in_ci


@pytest.fixture(scope="session")
def octoprint_server(tmp_path_factory):
    """A real OctoPrint 1.11 with its virtual printer; fails under CI=true when it cannot run, else skips."""
    from tests.servers.octoprint import OctoPrintUnavailable, start_octoprint

    try:
        server = start_octoprint(tmp_path_factory.mktemp("octoprint"))
    except OctoPrintUnavailable as exc:
        if in_ci():
            pytest.fail(f"real OctoPrint unavailable (CI=true requires it): {exc}")
        pytest.skip(f"real OctoPrint unavailable: {exc}")
    yield server
    server.stop()
