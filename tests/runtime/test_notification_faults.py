"""A task worker killed with SIGKILL in the middle of sending a notification e-mail (a real SMTP
conversation on 127.0.0.1), on both task engines: that e-mail is never sent a second time, and the
next one goes out normally."""

from __future__ import annotations

import socketserver
import threading
import uuid

import pytest

from tests.runtime.fault_support import Stack, fresh_postgres, running
from tests.services import private_redis, require_postgres
from tests.waiting import wait_until


class SMTPRecorder:
    """Just enough SMTP for Django's backend; records each message. The first message's final
    "250" is held back (the sender's worker is killed while it waits)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.first_data = threading.Event()
        self.release_first = threading.Event()
        recorder = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                try:
                    self.reply("220 test SMTP ready")
                    for raw in self.rfile:
                        command = raw.decode(errors="replace").strip().upper()
                        if command.startswith("EHLO") or command.startswith("HELO"):
                            self.reply("250 test")
                        elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                            self.reply("250 OK")
                        elif command == "DATA":
                            self.reply("354 go ahead")
                            lines = []
                            for line in self.rfile:
                                if line in (b".\r\n", b".\n"):
                                    break
                                lines.append(line.decode(errors="replace"))
                            recorder.messages.append("".join(lines))
                            if len(recorder.messages) == 1:
                                recorder.first_data.set()
                                recorder.release_first.wait(60)
                            self.reply("250 queued")
                        elif command == "QUIT":
                            self.reply("221 bye")
                            return
                        else:
                            self.reply("502 not implemented")
                except OSError:
                    return  # the client is gone

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release_first.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp():
    recorder = SMTPRecorder()
    yield recorder
    recorder.close()


@pytest.fixture(params=["django-q", "celery"])
def stack(request, tmp_path, smtp):
    settings = {"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}", "NOTIFICATIONS_SENDING_STALE": "3"}
    if request.param == "django-q":
        stack = Stack(tmp_path / "var", extra_env=settings)
        with running(stack):
            yield stack
        return
    with private_redis() as redis_url, fresh_postgres(require_postgres()) as database_url:
        stack = Stack(
            tmp_path / "var",
            database_url=database_url,
            redis_url=redis_url,
            engine="celery",
            extra_env=settings,
        )
        with running(stack):
            yield stack


def _finished(stack: Stack, name: str) -> None:
    """The event a finished print of alice's writes (the job row itself does not matter here)."""
    stack.shell(
        "from django.contrib.auth import get_user_model\n"
        "from events.services import event_record\n"
        "alice = get_user_model().objects.get(username='alice')\n"
        f"event_record(type='job.finished', job_id='{uuid.uuid4()}', user_id=alice.pk, payload={{'name': '{name}'}})\n"
    )


def _email_states(stack: Stack) -> dict[str, str]:
    return dict(stack.query("SELECT title, email_state FROM notifications_notification"))


@pytest.mark.slow
def test_a_worker_killed_mid_send_never_sends_that_email_twice(stack, smtp):
    stack.setup()
    stack.shell(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_user('alice', email='alice@example.edu')\n"
    )
    stack.start_worker()
    stack.start_beat()
    _finished(stack, "bracket")
    assert smtp.first_data.wait(90), "the e-mail never reached the SMTP server\n" + stack.logs()
    stack.kill("worker")  # SIGKILL while the server has the message but has not said "250" yet
    smtp.release_first.set()
    assert _email_states(stack) == {"bracket finished": "sending"}

    stack.restart("worker")
    wait_until(
        lambda: _email_states(stack).get("bracket finished") == "failed",
        timeout=120,
        message=lambda: f"{_email_states(stack)}\n{stack.logs()}",
    )
    _finished(stack, "gear")
    wait_until(
        lambda: _email_states(stack).get("gear finished") == "sent",
        timeout=120,
        message=lambda: f"{_email_states(stack)}\n{stack.logs()}",
    )
    stack.shell("from notifications.services import notifications_send\nnotifications_send()\n")

    subjects = [
        line for message in smtp.messages for line in message.splitlines() if line.startswith("Subject:")
    ]
    assert subjects == ["Subject: [Lab MES] bracket finished", "Subject: [Lab MES] gear finished"]
    [(error,)] = stack.query(
        "SELECT email_error FROM notifications_notification WHERE email_state = 'failed'"
    )
    assert "not sent again" in error
