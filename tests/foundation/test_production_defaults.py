"""Production-safe defaults: DEBUG only for a local demo, and `check --deploy` clean with DEBUG off."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from mes import config

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path, **extra) -> dict:
    scrubbed = ("DATABASE_URL", "REDIS_URL", "TASK_ENGINE", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")
    env = {k: v for k, v in os.environ.items() if k not in scrubbed}
    return {**env, "MES_ENV_FILE": "/dev/null", "MES_VAR_DIR": str(tmp_path / "var"), **extra}


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("unix:/run/mes.sock", True),
        ("0.0.0.0:8000", False),
        ("[::]:8000", False),
        ("10.0.0.5:8000", False),
        ("mes.lab.example:8000", False),
        ("0.0.0.0", False),
    ],
)
def test_which_binds_stay_on_this_machine(bind, loopback):
    assert config.bind_is_loopback(bind) is loopback


def test_debug_is_refused_on_public_binds_and_in_production_mode():
    config.refuse_debug(debug=True, binds=["127.0.0.1:8000"])
    config.refuse_debug(debug=False, binds=["0.0.0.0:8000"], production=True)
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG=true refused on 0\.0\.0\.0:8000"):
        config.refuse_debug(debug=True, binds=["127.0.0.1:8000", "0.0.0.0:8000"])
    with pytest.raises(ImproperlyConfigured, match=r"under manage\.py up --production"):
        config.refuse_debug(debug=True, binds=["127.0.0.1:8000"], production=True)


def test_gunicorn_binds_are_read_from_its_command_line():
    assert config.gunicorn_binds(["gunicorn", "mes.wsgi:application"]) == ["127.0.0.1:8000"]
    assert config.gunicorn_binds(["gunicorn", "x", "--bind", "0.0.0.0:8000", "-b[::1]:9"]) == [
        "0.0.0.0:8000",
        "[::1]:9",
    ]
    assert config.gunicorn_binds(["gunicorn", "x"], "--bind=10.0.0.1:80") == ["10.0.0.1:80"]


def test_up_production_refuses_debug(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match=r"under manage\.py up --production"):
        call_command("up", "--production")
    with pytest.raises(CommandError, match=r"refused on 0\.0\.0\.0:8000"):
        call_command("up", "--bind", "0.0.0.0:8000")


def test_runserver_on_a_public_address_with_debug_exits_with_the_reason(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "runserver", "--noreload", "0.0.0.0:0"],
        cwd=ROOT,
        env=_env(tmp_path, DEBUG="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DEBUG=true refused on 0.0.0.0:0" in result.stderr


def test_gunicorn_on_a_public_address_with_debug_stops(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "mes.wsgi:application", "--bind", "0.0.0.0:0", "--workers", "1"],
        cwd=ROOT,
        env=_env(tmp_path, DEBUG="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DEBUG=true refused on 0.0.0.0:0" in result.stderr


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    env = _env(tmp_path, DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="mes.lab.example")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# Requests in production mode, through the whole middleware stack (a fresh process reads the settings).
PROBE = """
import json
from django.test import Client, RequestFactory
from mes.security import client_ip
plain, proxied = Client(), Client(HTTP_X_FORWARDED_PROTO="https")
login, secure = plain.get("/accounts/login/"), proxied.get("/accounts/login/")
forwarded = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
print(json.dumps({
    "http": [login.status_code, login.get("Location", "")],
    "https": [secure.status_code, secure.get("Strict-Transport-Security", "")],
    "csrf_cookie_secure": bool(secure.cookies["csrftoken"]["secure"]) if "csrftoken" in secure.cookies else None,
    "health": plain.get("/api/health/").status_code,
    "client_ip": client_ip(forwarded),
}))
"""


@pytest.mark.parametrize("tls_proxy", [True, False], ids=["behind-tls-proxy", "no-proxy"])
def test_production_redirects_to_https_and_trusts_the_proxy_only_when_told(tmp_path, tls_proxy):
    env = _env(
        tmp_path,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="testserver",
        TLS_PROXY=str(tls_proxy).lower(),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["http"] == [301, "https://testserver/accounts/login/"]
    assert seen["health"] != 301  # load balancers probe over plain http
    if tls_proxy:
        assert seen["https"] == [200, "max-age=31536000; includeSubDomains"]
        assert seen["csrf_cookie_secure"] is True
        assert seen["client_ip"] == "198.51.100.7"  # what the proxy appended, not the client's claim
    else:  # anyone can send X-Forwarded-*: without TLS_PROXY neither counts
        assert seen["https"][0] == 301
        assert seen["client_ip"] == "10.0.0.2"
