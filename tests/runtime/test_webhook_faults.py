"""A task worker killed with SIGKILL in the middle of a webhook delivery, on both task engines: the
delivery is neither lost nor doubled (the receiver processes it once, by its MES-Delivery-Id)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.runtime.fault_support import Stack, fresh_postgres, running
from tests.services import private_redis, require_postgres
from tests.waiting import wait_until
from webhooks.signing import verify

SETTINGS = {
    "OUTGOING_ALLOWED_NETWORKS": "127.0.0.0/8",
    # Long enough that the test kills the worker before its request times out, even on a loaded box;
    # an attempt's claim then runs out 13 s after the worker died holding it.
    "WEBHOOKS_TIMEOUT": "4",
    "WEBHOOKS_BACKOFF_BASE": "1",
}


class IdempotentReceiver:
    """Holds the first request open (the sender's worker is killed meanwhile), then answers 200.
    Like a careful receiver, it processes each MES-Delivery-Id once."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.processed: dict[str, bytes] = {}
        self.first_arrived = threading.Event()
        self.release_first = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                if len(receiver.requests) == 1:
                    receiver.first_arrived.set()
                    receiver.release_first.wait(60)
                else:
                    receiver.processed.setdefault(self.headers["MES-Delivery-Id"], body)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender is gone

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release_first.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["django-q", "celery"])
def stack(request, tmp_path):
    if request.param == "django-q":
        stack = Stack(tmp_path / "var", extra_env=SETTINGS)
        with running(stack):
            yield stack
        return
    with private_redis() as redis_url, fresh_postgres(require_postgres()) as database_url:
        stack = Stack(
            tmp_path / "var",
            database_url=database_url,
            redis_url=redis_url,
            engine="celery",
            extra_env=SETTINGS,
        )
        with running(stack):
            yield stack


def _delivery(stack: Stack) -> tuple[str, int]:
    rows = stack.query("SELECT state, attempts FROM webhooks_delivery")
    return rows[0] if rows else ("", 0)


@pytest.mark.slow
def test_a_worker_killed_mid_delivery_neither_loses_nor_doubles_it(stack):
    receiver = IdempotentReceiver()
    try:
        stack.setup()
        secret = stack.shell(
            "from webhooks.services import webhook_endpoint_create\n"
            f"print(webhook_endpoint_create(name='lab bot', url='{receiver.url}').secret)\n"
        ).strip()
        stack.start_worker()
        stack.start_beat()
        stack.shell(
            "from events.services import event_record\nevent_record(type='machine.error', payload={'name': 'mk4'})\n"
        )

        assert receiver.first_arrived.wait(90), "the first delivery never arrived\n" + stack.logs()
        stack.kill("worker")  # SIGKILL to the whole worker session, while the receiver holds the request
        receiver.release_first.set()
        assert _delivery(stack) == ("pending", 1)  # the attempt was claimed, never recorded

        stack.restart("worker")
        wait_until(
            lambda: _delivery(stack)[0] == "delivered",
            timeout=120,
            message=lambda: f"delivery {_delivery(stack)}\n{stack.logs()}",
        )
        # One more run finds nothing to send.
        stack.shell("from webhooks.services import webhooks_deliver_due\nwebhooks_deliver_due()\n")
    finally:
        receiver.close()

    assert _delivery(stack) == ("delivered", 2)
    assert len(receiver.requests) == 2
    ids = {r["headers"]["MES-Delivery-Id"] for r in receiver.requests}
    assert len(ids) == 1 and len(receiver.processed) == 1  # the same delivery twice, processed once
    [(_, body)] = receiver.processed.items()
    assert json.loads(body)["type"] == "machine.error"
    assert verify(secret=secret, body=body, header=receiver.requests[1]["headers"]["MES-Signature"])
    attempts = stack.query("SELECT number, status_code, error FROM webhooks_attempt ORDER BY number")
    assert attempts[0][1] is None and "worker stopped" in attempts[0][2]
    assert attempts[1][1] == 200 and len(attempts) == 2
    assert stack.query("SELECT COUNT(*) FROM events_receipt WHERE consumer = 'webhooks'") == [(1,)]
