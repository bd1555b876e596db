"""The drivers' cheap probe of a printer in backoff: a TCP connect to its host and port, nothing more."""

from __future__ import annotations

import socket

import pytest

from machines.registry import get_registry
from machines.services import machine_create

pytestmark = pytest.mark.django_db


def printer(url: str):
    config = machine_create(
        name="mk4", machine_type="printer-3d", driver="octoprint", settings={"URL": url, "API_KEY": "k"}
    )
    return get_registry().get_machine(config.pk)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nothing listens there


def test_a_printer_listening_again_is_seen_by_the_probe():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        machine = printer(f"http://127.0.0.1:{listener.getsockname()[1]}/p/1")
        assert machine.driver.probe_machine(machine) is True


def test_a_printer_still_off_is_not():
    machine = printer(f"http://127.0.0.1:{closed_port()}")
    assert machine.driver.probe_machine(machine) is False


def test_behind_a_proxy_the_probe_cannot_tell(monkeypatch):
    """Labs reach printers through proxies; a direct connect would say nothing about the proxied path."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.lab.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    machine = printer(f"http://10.0.0.21:{closed_port()}")
    assert machine.driver.probe_machine(machine) is None


def test_the_client_takes_the_labs_proxy_once_and_honours_no_proxy(monkeypatch):
    """Proxy variables are resolved when the client is made, not per request, and still apply."""
    from drivers.octoprint import OctoPrintClient

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.lab.example:3128")
    monkeypatch.setenv("NO_PROXY", "printers.lab.example")
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = OctoPrintClient("http://10.0.0.21", api_key="k")
    direct = OctoPrintClient("http://mk4.printers.lab.example", api_key="k")
    assert proxied.session.proxies.get("http") == "http://proxy.lab.example:3128"
    assert "http" not in direct.session.proxies
    assert proxied.session.trust_env is False  # nothing re-read from the environment per request
