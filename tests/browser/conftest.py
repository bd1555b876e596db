"""Real-browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

- One Chromium for all the browser tests (``chromium``), a fresh context (cookies, storage, viewport,
  colour scheme) per test (``context``, ``page``). ``playwright install`` needs the internet, so the
  system Chromium is used (``executable_path``); ``make browser`` installs it when it is missing.
  Without it the tests are skipped, except under CI=true, where that fails the run.
- The browser is scoped to this package, not the session: Playwright's sync API marks an asyncio loop
  as running in the main thread for as long as it lives, so Django would refuse every ORM call of the
  tests that run after these ("SynchronousOnlyOperation"). Inside this package the tests set
  ``DJANGO_ALLOW_ASYNC_UNSAFE`` for that reason (their ORM calls are plain synchronous code).
- On SQLite the test database lives in memory and the live server's threads share the test's one
  connection (pytest-django passes it over). ``Runtime`` (scheduler, tasks and poller in a thread of
  their own) uses that connection too, and ``SERIAL`` lets one thread at a time use it: every request of
  the live server and every step of the runtime holds it.
- Every page a test opens must load without a JavaScript error or a Content-Security-Policy refusal.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from machines.registry import reset_registry
from plugins.registry import reset_plugin_registry
from simulator import ThreadedSimulator
from tests.jobs.dispatch_support import SIM_SPEED, Farm, TaskRecorder, tasks  # noqa: F401
from tests.services import in_ci

CHROMIUM = os.environ.get("MES_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
TIMEOUT_MS = 15_000  # for every Playwright wait (expect, click, goto)
PASSWORD = "correct horse battery staple"
SUBRESOURCES = {"script", "stylesheet", "image", "font"}

# One thread at a time on the shared in-memory SQLite connection (see the module docstring).
SERIAL = threading.RLock()


PRINTERS = 24  # simulated printers for this package's tests, each test takes fresh ones


@pytest.fixture(scope="package")
def browser_printers() -> Iterator[tuple[ThreadedSimulator, Callable[[], int]]]:
    """The simulator of this package (its own, so the jobs tests' printers are not used up)."""
    simulator = ThreadedSimulator(PRINTERS, "octoprint", speed=SIM_SPEED).start()
    numbers = itertools.count(1)

    def allocate() -> int:
        number = next(numbers)
        if number > PRINTERS:
            pytest.fail("the browser tests' simulator ran out of printers; raise PRINTERS")
        return number

    yield simulator, allocate
    simulator.stop()


@pytest.fixture
def farm(db, browser_printers) -> Iterator[Farm]:
    """Simulated printers registered as machines, as tests/jobs/dispatch_support.py's ``farm``."""
    simulator, allocate = browser_printers
    reset_plugin_registry()
    reset_registry()
    yield Farm(sim=simulator, allocate=allocate)
    reset_registry()
    reset_plugin_registry()


@pytest.fixture(autouse=True)
def _recorded_tasks(tasks):  # noqa: F811
    """Tasks the pages enqueue are recorded, run only by ``Runtime`` (no task engine in these tests)."""
    return tasks


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium not found at {CHROMIUM} (`make browser` installs it)"
        if in_ci():
            pytest.fail(f"{message}; CI=true requires the browser tests")
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            yield browser
            browser.close()


@pytest.fixture
def serial_live_server(live_server):
    """The live server, answering one request at a time under ``SERIAL``."""
    httpd = live_server.thread.httpd
    app = httpd.get_app()

    def serialised(environ, start_response):
        with SERIAL:
            response = app(environ, start_response)
            try:
                return list(response)  # the body too: a streamed file reads the database lazily
            finally:
                if hasattr(response, "close"):
                    response.close()

    httpd.set_app(serialised)
    yield live_server
    httpd.set_app(app)


@pytest.fixture
def new_context(chromium, serial_live_server) -> Iterator[Callable[..., BrowserContext]]:
    """Make a fresh browser context (desktop size, light) on the live server; closed after the test."""
    made: list[BrowserContext] = []

    def _new(**options) -> BrowserContext:
        options = {"viewport": DESKTOP, "color_scheme": "light", **options}
        context = chromium.new_context(base_url=serial_live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context

    yield _new
    for context in made:
        context.close()


@pytest.fixture
def context(new_context) -> BrowserContext:
    return new_context()


@pytest.fixture
def page_errors() -> list[str]:
    """JavaScript errors and console errors (CSP refusals among them) of the pages the test opened."""
    return []


def watch(page: Page, errors: list[str]) -> Page:
    """Collect the page's JavaScript errors, console errors (CSP refusals among them) and failed loads
    of its scripts, styles, images and fonts. A page answered with 4xx on purpose is not an error."""

    def console(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"{page.url}: {message.text}")

    def response(answer) -> None:
        if answer.status >= 400 and answer.request.resource_type in SUBRESOURCES:
            errors.append(f"{page.url}: {answer.status} for {answer.url}")

    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on("console", console)
    page.on("response", response)
    return page


@pytest.fixture
def page(context, page_errors) -> Iterator[Page]:
    page = watch(context.new_page(), page_errors)
    yield page
    assert not page_errors, page_errors


@pytest.fixture
def login(serial_live_server) -> Callable[[BrowserContext, object], None]:
    """Log a user in without the form (a session cookie), for tests about what comes after."""

    def _login(context: BrowserContext, user) -> None:
        client = Client()
        with SERIAL:
            client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": serial_live_server.url}])

    return _login


@pytest.fixture
def make_user(db):
    def _make(username: str, *, staff: bool = False):
        with SERIAL:
            return get_user_model().objects.create_user(username, password=PASSWORD, is_staff=staff)

    return _make


class Runtime:
    """The scheduler, the tasks and the poller, in a thread of their own, as the worker and the poller
    processes run them in production (what tests/jobs/test_end_to_end.py does step by step)."""

    def __init__(self, farm: Farm, tasks: TaskRecorder, shared_connections: dict) -> None:  # noqa: F811
        self.farm, self.tasks, self.shared = farm, tasks, shared_connections
        self.configs: list = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        with SERIAL:
            self.tasks.drain()
            self.farm.poll(*self.configs)
            self.tasks.drain()

    def _run(self) -> None:
        for alias, connection in self.shared.items():
            connections[alias] = connection
        try:
            while not self._stop.is_set():
                self.step()
                self._stop.wait(0.1)  # the poller's cadence, not a wait for a result
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            if not self.shared:
                connections.close_all()  # its own connections (PostgreSQL); the shared one stays open

    def start(self, *configs) -> Runtime:
        self.configs = list(configs)
        self._thread = threading.Thread(target=self._run, name="mes-test-runtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        assert not self.errors, f"the runtime thread failed: {self.errors!r}"


@pytest.fixture
def runtime(farm, tasks, serial_live_server) -> Iterator[Runtime]:  # noqa: F811
    """A runtime for the simulated farm; ``runtime.start(*machines)`` sets it going."""
    shared = dict(serial_live_server.thread.connections_override)
    runtime = Runtime(farm, tasks, shared)
    yield runtime
    runtime.stop()


@pytest.fixture
def screenshots() -> Path:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
