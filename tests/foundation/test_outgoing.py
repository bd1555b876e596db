"""Outgoing URL checks (mes.outgoing): who Lab MES may call, and short messages when a call fails."""

from __future__ import annotations

import re
import socket
import threading

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from mes import config
from mes.outgoing import OutgoingURLRefused, check_outgoing_url, describe_connection_error


@pytest.fixture(autouse=True)
def _nothing_allowed(settings):
    settings.OUTGOING_ALLOWED_NETWORKS = []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/", "a loopback address 127.0.0.1"),
        ("http://localhost/", "localhost resolves to a loopback address 127.0.0.1"),
        ("http://[::1]/", "a loopback address ::1"),
        ("http://[::ffff:10.0.0.5]/", "a private address 10.0.0.5"),
        ("https://10.0.0.5/", "a private address 10.0.0.5"),
        ("https://192.168.1.20/", "a private address 192.168.1.20"),
        ("https://172.16.0.1/", "a private address 172.16.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address 169.254.169.254"),
        ("http://[fe80::1]/", "a link-local address fe80::1"),
        ("http://224.0.0.1/", "a multicast address 224.0.0.1"),
        ("http://0.0.0.0/", "an unspecified address 0.0.0.0"),
        ("http://240.0.0.1/", "a reserved address 240.0.0.1"),
        ("http://100.64.0.1/", "a non-public address 100.64.0.1"),
        ("http://[fc00::1]/", "a private address fc00::1"),
    ],
)
def test_addresses_inside_the_lab_network_are_refused(url, reason):
    with pytest.raises(OutgoingURLRefused) as refused:
        check_outgoing_url(url)
    assert reason in str(refused.value)
    assert "OUTGOING_ALLOWED_NETWORKS" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/file", "only http and https URLs may be called, not ftp"),
        ("file:///etc/passwd", "only http and https URLs may be called, not file"),
        ("gopher://93.184.215.14/", "not gopher"),
        ("93.184.215.14/path", "not no scheme"),
        ("http:///nohost", "names no host"),
        ("http://93.184.215.14:99999/", "is not a valid URL"),
        ("http://user:pw@93.184.215.14/", "user name or password"),
        ("http://no-such-host.invalid/", "the host no-such-host.invalid does not resolve (no such host)"),
    ],
)
def test_malformed_or_unresolvable_urls_are_refused(url, reason):
    with pytest.raises(OutgoingURLRefused) as refused:
        check_outgoing_url(url)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "url", ["https://93.184.215.14/", "http://8.8.8.8:8080/x", "https://[2606:4700:4700::1111]/"]
)
def test_public_addresses_pass(url):
    check_outgoing_url(url)


def test_allowed_networks_let_named_ranges_through(settings):
    settings.OUTGOING_ALLOWED_NETWORKS = ["127.0.0.0/8", "10.20.0.0/16"]
    check_outgoing_url("http://127.0.0.1:8000/")
    check_outgoing_url("http://localhost:8000/")
    check_outgoing_url("https://10.20.3.4/")
    with pytest.raises(OutgoingURLRefused, match=re.escape("a private address 10.21.0.1")):
        check_outgoing_url("https://10.21.0.1/")
    with pytest.raises(OutgoingURLRefused, match="a loopback address ::1"):
        check_outgoing_url("http://[::1]/")


def test_the_setting_is_read_from_the_environment_and_typos_stop_the_process(monkeypatch):
    env = config.environ.Env()
    monkeypatch.setenv("OUTGOING_ALLOWED_NETWORKS", " 127.0.0.0/8, 10.1.2.3 ,")
    assert config.networks(env, "OUTGOING_ALLOWED_NETWORKS") == ["127.0.0.0/8", "10.1.2.3"]
    monkeypatch.setenv("OUTGOING_ALLOWED_NETWORKS", "127.0.0.0/8,10.0.0/33")
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("OUTGOING_ALLOWED_NETWORKS: '10.0.0/33' is not an IP")
    ):
        config.networks(env, "OUTGOING_ALLOWED_NETWORKS")
    monkeypatch.delenv("OUTGOING_ALLOWED_NETWORKS")
    assert config.networks(env, "OUTGOING_ALLOWED_NETWORKS") == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server():
    """Accepts connections and never answers (a hung partner)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture
def plain_http_server():
    """Answers anything with a plain-HTTP 400, so a TLS client fails its handshake."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    thread.join(timeout=5)
    server.close()


def _error_from(call) -> BaseException:
    with pytest.raises(requests.RequestException) as caught:
        call()
    return caught.value


def test_refused_connection_is_described_in_one_short_line():
    exc = _error_from(lambda: requests.get(f"http://127.0.0.1:{_closed_port()}/", timeout=5))
    assert "HTTPConnectionPool" in str(exc)  # what the library would have shown
    assert describe_connection_error(exc) == "the connection was refused (nothing listens on that port)"


def test_unknown_host_is_described():
    exc = _error_from(lambda: requests.get("http://no-such-host.invalid/", timeout=5))
    assert describe_connection_error(exc) == "the host name does not resolve"


def test_a_partner_that_never_answers_is_a_read_timeout(silent_server):
    exc = _error_from(lambda: requests.get(f"http://127.0.0.1:{silent_server}/", timeout=0.5))
    assert describe_connection_error(exc) == "timed out waiting for the answer"


def test_tls_to_a_plain_http_server_is_a_handshake_failure(plain_http_server):
    exc = _error_from(lambda: requests.get(f"https://127.0.0.1:{plain_http_server}/", timeout=5))
    assert describe_connection_error(exc) == "the TLS handshake failed"


def test_socket_level_errors_and_refusals_are_described():
    assert describe_connection_error(ConnectionResetError(104, "Connection reset by peer")) == (
        "the server closed the connection"
    )
    assert describe_connection_error(TimeoutError()) == "timed out"
    assert describe_connection_error(OSError(101, "Network is unreachable")) == (
        "the connection failed (network is unreachable)"
    )
    assert describe_connection_error(OutgoingURLRefused("a private address 10.0.0.5")) == (
        "refused to connect: a private address 10.0.0.5"
    )
    assert describe_connection_error(RuntimeError("something odd")) == "the request failed"
