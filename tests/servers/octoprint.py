"""A real OctoPrint (from PyPI) with its virtual printer, for the driver contract tests.

OctoPrint is installed into its own virtualenv (it pins Flask, Tornado… differently from us), cached per
user outside the checkout, at ``${XDG_CACHE_HOME:-~/.cache}/lab-mes/octoprint-<version>-py<X.Y>`` (or
``MES_OCTOPRINT_VENV``), so a fresh clone reuses it the way pip reuses its wheel cache. It is built in a
temporary directory beside it and renamed into place, so a killed run never leaves a half-built venv
that a later run would take for a whole one. Every session gets a fresh
basedir written from the template below, because OctoPrint rewrites its own ``config.yaml``.

What the template sets and why:

* ``server.firstRun: false`` and the core wizards seen: no setup wizard blocking the API.
* ``serial.port: VIRTUAL``, ``baudrate: 115200``, ``autoconnect: true``: the built-in virtual printer.
* ``plugins.virtual_printer.simulated_errors: []``: the default simulated errors stall every print.
* ``plugins._disabled``: every bundled plugin that calls the internet (announcements, tracking,
  software update, plugin manager, discovery, error tracking, achievements, firmware/file/Pi checks).

A user is created with ``octoprint user add`` and given a known per-user API key by writing the
``apikey`` attribute of its entry in ``users.yaml`` (OctoPrint's own user store), before the server
starts. As root, ``octoprint serve`` refuses to run without ``--iknowwhatimdoing``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

OCTOPRINT_VERSION = "1.11.8"
USERNAME = "mes"
PASSWORD = "mes-test-password"
API_KEY = "MESTESTAPIKEY0123456789ABCDEF0000"
START_TIMEOUT = 90.0


def _python() -> str:
    return shutil.which("python3.11") or shutil.which("python3") or sys.executable


def _python_version(python: str) -> str:
    if python == sys.executable:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    result = subprocess.run(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def default_venv_dir(python: str | None = None) -> Path:
    """The per-user cache: one virtualenv per OctoPrint version and Python version."""
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = _python_version(python or _python())
    return cache_home / "lab-mes" / f"octoprint-{OCTOPRINT_VERSION}-py{version}"


def venv_dir() -> Path:
    """Where OctoPrint's virtualenv lives: ``MES_OCTOPRINT_VENV`` when set, else the per-user cache."""
    override = os.environ.get("MES_OCTOPRINT_VENV")
    return Path(override) if override else default_venv_dir()


DISABLED_PLUGINS = [
    "announcements",
    "tracking",
    "softwareupdate",
    "pluginmanager",
    "discovery",
    "errortracking",
    "achievements",
    "firmware_check",
    "file_check",
    "pi_support",
    "backup",
]


class OctoPrintUnavailable(RuntimeError):
    """OctoPrint could not be installed or started here (for example: no network to reach PyPI)."""


@dataclass
class OctoPrintServer:
    url: str
    api_key: str
    basedir: Path
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def ensure_installed(target: Path | None = None) -> list[str]:
    """Install OctoPrint into its own cached virtualenv (a no-op when the locked version is there) and
    return the command that runs it.

    The venv is built under a temporary sibling name and renamed into place only once complete. A
    venv's scripts name the directory they were built in, so OctoPrint runs as ``python -m octoprint``
    (the venv's interpreter finds its ``pyvenv.cfg`` and site-packages from where it is, renamed or
    not). Two runs building at once each build their own; the first rename wins.
    """
    target = target or venv_dir()
    command = [str(target / "bin" / "python"), "-m", "octoprint"]
    stamp = target / f".installed-octoprint-{OCTOPRINT_VERSION}"
    if stamp.exists():
        return command
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        _build(building)
        (building / stamp.name).touch()
        if target.exists() and not stamp.exists():  # from before atomic builds: not to be trusted
            shutil.rmtree(target)
        try:
            building.rename(target)
        except OSError:
            if not stamp.exists():  # not another run's finished venv: a real failure
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return command


def _build(venv: Path) -> None:
    steps = [
        [_python(), "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"octoprint=={OCTOPRINT_VERSION}",
        ],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise OctoPrintUnavailable(f"installing OctoPrint failed: {' | '.join(tail)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(port: int) -> dict:
    return {
        "server": {
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "host": "127.0.0.1",
            "port": port,
            "seenWizards": {"corewizard": 4, "backup": None, "tracking": None},
        },
        "serial": {
            "port": "VIRTUAL",
            "baudrate": 115200,
            "autoconnect": True,
            "additionalPorts": [],
        },
        "plugins": {
            "_disabled": DISABLED_PLUGINS,
            "virtual_printer": {"enabled": True, "simulated_errors": []},
        },
        "accessControl": {"enabled": True},
    }


def _write_basedir(basedir: Path, port: int, octoprint: list[str]) -> None:
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(yaml.safe_dump(_config(port)))
    result = subprocess.run(
        [
            *octoprint,
            "--basedir",
            str(basedir),
            "user",
            "add",
            "--password",
            PASSWORD,
            "--admin",
            USERNAME,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise OctoPrintUnavailable(f"octoprint user add failed: {result.stderr.strip()[-500:]}")
    users_file = basedir / "users.yaml"
    users = yaml.safe_load(users_file.read_text())
    users[USERNAME]["apikey"] = API_KEY
    users_file.write_text(yaml.safe_dump(users))


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """Ready when /api/version answers 200 (it answers 404, then 403, while starting)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OctoPrintUnavailable(
                f"OctoPrint exited early ({process.returncode}): {log.read_text()[-800:]}"
            )
        with contextlib.suppress(requests.RequestException):
            response = requests.get(f"{url}/api/version", headers={"X-Api-Key": API_KEY}, timeout=2)
            if response.status_code == 200:
                return
        time.sleep(0.3)
    raise OctoPrintUnavailable(f"OctoPrint did not answer /api/version within {START_TIMEOUT}s")


def _wait_operational(url: str) -> None:
    """The virtual printer autoconnects a moment after the server answers."""
    deadline = time.monotonic() + 30
    state = ""
    while time.monotonic() < deadline:
        response = requests.get(f"{url}/api/connection", headers={"X-Api-Key": API_KEY}, timeout=5)
        state = response.json()["current"]["state"]
        if state == "Operational":
            return
        time.sleep(0.2)
    raise OctoPrintUnavailable(f"virtual printer not operational after 30 s (state {state!r})")


def start_octoprint(workdir: Path | None = None) -> OctoPrintServer:
    octoprint = ensure_installed()
    basedir = Path(workdir or tempfile.mkdtemp(prefix="mes-octoprint-")) / "basedir"
    port = free_port()
    _write_basedir(basedir, port, octoprint)
    log = basedir / "serve.log"
    command = [*octoprint, "--basedir", str(basedir), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--iknowwhatimdoing")
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    server = OctoPrintServer(url=url, api_key=API_KEY, basedir=basedir, process=process)
    try:
        _wait_ready(url, process, log)
        _wait_operational(url)
    except BaseException:
        server.stop()
        raise
    return server
