"""The printer clients' HTTP: one keep-alive connection per printer, and proxies and redirects as before.

Plain ``http://`` printers are reached through one keep-alive connection (``drivers.keepalive``, the
poll's hot path); printers behind a proxy, redirects and uploads go through ``requests``. A small HTTP server stands in for the printer
(and for the lab's proxy): it answers OctoPrint's two poll endpoints and records what it was sent.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drivers.octoprint import OctoPrintClient
from machines.machine_types.printer_state import PrinterStatus, PrinterUnreachable

JOB = {"state": "Printing", "job": {"file": {"name": "cube.gcode"}}, "progress": {"completion": 42.0}}
PRINTER = '{"temperature": {"tool0": {"actual": NaN, "target": 210.0}, "bed": {"actual": 60, "target": 60}}}'


class Printer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str, str, tuple[str, int]]] = []  # method, target, api key, peer
        self.close_after_answer = False  # as a printer that closes idle keep-alive connections
        self.gzip_answers = False  # as a server that compresses whether asked or not

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Printer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(
            (self.command, self.path, self.headers.get("X-Api-Key", ""), self.client_address)
        )
        path = self.path.split("://", 1)[-1].split("/", 1)[-1]  # a proxy is sent the whole URL
        if path.startswith("old/"):
            self.answer(301, b"", location=f"/{path.removeprefix('old/')}")
        elif path.startswith("api/job"):
            self.answer(200, json.dumps(JOB).encode())
        elif path.startswith("api/printer"):
            self.answer(200, PRINTER.encode())
        else:
            self.answer(404, b'{"error": "no such page"}')

    def do_POST(self) -> None:
        """A command: recorded, then the connection is dropped without an answer (a printer that
        restarts as the command arrives)."""
        self.server.requests.append(
            (self.command, self.path, self.headers.get("X-Api-Key", ""), self.client_address)
        )
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True

    def answer(self, code: int, body: bytes, location: str = "") -> None:
        if self.server.gzip_answers:
            body = gzip.compress(body)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if self.server.gzip_answers:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)
        if self.server.close_after_answer:
            self.close_connection = True  # no "Connection: close": the client finds out by itself


@pytest.fixture
def server() -> Iterator[Printer]:
    printer = Printer()
    thread = threading.Thread(target=printer.serve_forever, daemon=True)
    thread.start()
    yield printer
    printer.shutdown()
    printer.server_close()


@pytest.fixture
def no_proxy_variables(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_polls_reuse_one_connection_and_send_the_api_key(server, no_proxy_variables):
    client = OctoPrintClient(server.url, api_key="secret-key")
    for _ in range(3):
        state = client.get_state()
    assert state.status is PrinterStatus.PRINTING and state.job.progress == 42.0
    assert state.temperatures["bed"].actual == 60.0
    assert state.temperatures["tool0"].target == 210.0  # an answer with NaN in it is still read
    assert [(method, target.split("?")[0]) for method, target, _, _ in server.requests] == [
        ("GET", "/api/job"),
        ("GET", "/api/printer"),
    ] * 3
    assert server.requests[1][1] == "/api/printer?exclude=sd"
    assert {key for _, _, key, _ in server.requests} == {"secret-key"}
    assert len({peer for _, _, _, peer in server.requests}) == 1  # one keep-alive connection
    client.close()


def test_a_printer_behind_the_labs_proxy_is_reached_through_it(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the test server plays the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = OctoPrintClient("http://octopi.lab.example", api_key="k")
    assert client.get_state().status is PrinterStatus.PRINTING
    assert [target for _, target, _, _ in server.requests][:2] == [
        "http://octopi.lab.example/api/job",
        "http://octopi.lab.example/api/printer?exclude=sd",
    ]
    client.close()


def test_a_redirect_is_followed(server, no_proxy_variables):
    client = OctoPrintClient(f"{server.url}/old", api_key="k")
    assert client.get_state().status is PrinterStatus.PRINTING
    targets = [target for _, target, _, _ in server.requests]
    assert "/api/job" in targets and "/api/printer?exclude=sd" in targets
    client.close()


def test_a_connection_the_printer_closed_while_idle_is_replaced_without_an_error(server, no_proxy_variables):
    server.close_after_answer = True
    client = OctoPrintClient(server.url, api_key="k")
    for _ in range(3):
        assert client.get_state().status is PrinterStatus.PRINTING
    assert len(server.requests) == 6
    assert len({peer for _, _, _, peer in server.requests}) == 6  # a fresh connection each time
    client.close()


def test_a_command_is_never_sent_twice_when_the_connection_drops(server, no_proxy_variables):
    client = OctoPrintClient(server.url, api_key="k")
    client.get_state()  # the keep-alive connection is open and in use
    with pytest.raises(PrinterUnreachable, match="POST /api/job: cannot connect"):
        client.pause()
    posts = [target for method, target, _, _ in server.requests if method == "POST"]
    assert posts == ["/api/job"]  # once: a command is never repeated behind the user's back
    assert client.get_state().status is PrinterStatus.PRINTING  # and the next poll reconnects
    client.close()


def test_a_compressed_answer_is_read(server, no_proxy_variables):
    server.gzip_answers = True
    client = OctoPrintClient(server.url, api_key="k")
    state = client.get_state()
    assert state.status is PrinterStatus.PRINTING and state.job.progress == 42.0
    client.close()
