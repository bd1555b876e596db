"""The HTTP layer every printer client shares: keep-alive connections, timeouts, typed errors.

A client knows one printer API and nothing about Django; driver plugins wrap a client per machine.
Every call either returns normalized data (``machines.machine_types.printer_state``) or raises one of
the typed ``PrinterError`` subclasses, so callers never see a ``requests`` or ``urllib3`` exception.

Polls are the hot path (at 1000 printers and a 2 s cadence, 500-1000 requests a second), so a
client sends plain ``http://`` requests straight through one keep-alive connection
(``drivers.keepalive``): ``requests`` spends about as much CPU again merging session settings,
cookies and hooks per request, and urllib3's pool another 60 %. Everything else goes through the
``requests`` session: uploads (streamed bodies), HTTP digest login (PrusaLink), printers behind a
proxy (the proxy variables are read once, when the client is made), ``https://`` printers
(certificate options) and redirects.
"""

from __future__ import annotations

import abc
import hashlib
import http.client
import io
import json
import logging
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson
import requests

from drivers.keepalive import ConnectPhaseError, KeepAliveConnection
from machines.machine_types.printer_controls import Control, ControlNotSupported, Jog
from machines.machine_types.printer_state import (
    PrinterBadResponse,
    PrinterCapabilities,
    PrinterError,
    PrinterRejected,
    PrinterState,
    PrinterStatus,
    PrinterUnauthorized,
    PrinterUnreachable,
    RemoteFile,
    Temperature,
)

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_UPLOAD_READ_TIMEOUT = 300.0
# A nozzle this far below its target while a job is at 0 % means the printer is still heating up.
HEATING_MARGIN = 3.0
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def map_status(table: Mapping[str, PrinterStatus], raw: str, *, where: str) -> PrinterStatus:
    """Map a printer's state text; an unknown one is UNKNOWN plus a warning, never an exception."""
    status = table.get(raw)
    if status is None:
        logger.warning("%s reported an unknown state %r; treating it as unknown", where, raw)
        return PrinterStatus.UNKNOWN
    return status


def to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def temperature(actual: Any, target: Any) -> Temperature:
    return Temperature(actual=to_float(actual), target=to_float(target))


def derive_heating(status: PrinterStatus, temperatures: dict[str, Temperature], progress: float | None):
    """None of the three APIs says "heating"; a job at 0 % with heaters well below target is heating."""
    if status is not PrinterStatus.PRINTING or (progress or 0) > 0:
        return status
    for temp in temperatures.values():
        if temp.target and temp.actual is not None and temp.actual < temp.target - HEATING_MARGIN:
            return PrinterStatus.HEATING
    return status


def webcam_url_on_printer(base_url: str, reported: str) -> str:
    """An absolute URL for a webcam URL a printer's host reported, kept on the printer's own host.

    A relative URL is relative to the printer's URL as configured here. The host's own view of
    itself (``127.0.0.1``, ``localhost``: OctoPi's default ``http://127.0.0.1:8080/?action=snapshot``)
    becomes the printer's host. Any other host is refused with ValueError: the printer is not staff,
    and what it reports must not make Lab MES call elsewhere; staff set ``WEBCAM_SNAPSHOT_URL`` for a
    camera on another host."""
    base = urlsplit(base_url)
    target = urlsplit(reported.strip())
    if not target.scheme and not target.netloc:
        return f"{base_url.rstrip('/')}/{reported.strip().lstrip('/')}"
    if target.scheme not in ("http", "https") or not target.hostname:
        raise ValueError(f"the printer reports a camera URL that is not http(s): {reported[:100]!r}")
    if target.hostname in LOOPBACK_NAMES:
        host = f"[{base.hostname}]" if ":" in (base.hostname or "") else base.hostname
        netloc = f"{host}:{target.port}" if target.port else host
        return urlunsplit(target._replace(netloc=netloc))
    if target.hostname != base.hostname:
        raise ValueError(
            f"the printer reports a camera on another host ({target.hostname}); "
            "set WEBCAM_SNAPSHOT_URL to use it"
        )
    return reported.strip()


class HashingReader(io.RawIOBase):
    """Reads a file in chunks for a streaming upload and hashes what was actually sent."""

    def __init__(self, fileobj: BinaryIO, size: int):
        super().__init__()
        self._file = fileobj
        self.len = size  # requests and requests-toolbelt read the body length from here
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size if size and size > 0 else 1024 * 1024)
        self._hash.update(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        # A retry (digest auth answers the first attempt with 401) re-sends from the start.
        position = self._file.seek(offset, whence)
        if position == 0:
            self._hash = hashlib.sha256()
        return position

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Answer:
    """What the clients read of an HTTP answer, the same names as ``requests.Response`` offers
    (``status_code``, ``content``, ``text``, ``json()``, ``headers``), for the keep-alive fast path."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, content: bytes, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.content = content
        self.headers = headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not (as ``requests`` raises)."""
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            # What orjson refuses and the standard library reads (NaN, Infinity), or really not JSON.
            return json.loads(self.content)


class PrinterClient(abc.ABC):
    """One printer's API. Not thread-safe: use one client per machine and per worker."""

    kind: ClassVar[str] = ""
    # Operator controls this API offers (machines.machine_types.printer_controls); none by default.
    CONTROLS: ClassVar[frozenset[Control]] = frozenset()

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        upload_read_timeout: float = DEFAULT_UPLOAD_READ_TIMEOUT,
        verify_tls: bool = True,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"printer URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.username = username
        self.password = password
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.upload_read_timeout = upload_read_timeout
        self.session = requests.Session()
        self.session.verify = verify_tls
        self.session.headers["User-Agent"] = "lab-mes printer client"
        # The environment is read once, when the client is made (a machine's settings change makes a
        # new one), not on every request: requests otherwise re-reads the proxy variables for each
        # call, ~6 % of a poll's CPU. Proxies (HTTP(S)_PROXY, NO_PROXY) and a CA bundle still apply.
        self.session.trust_env = False
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if verify_tls is True and bundle:
            self.session.verify = bundle
        self._configure_auth()
        self._pool: KeepAliveConnection | None = None
        self._pool_headers: dict[str, str] = {}
        parts = urlsplit(self.base_url)
        self._base_path = parts.path
        if self._direct_http():
            # One keep-alive connection: a client is used by one thread at a time. No compressed
            # answers are asked for (small JSON on the lab's network; a Pi would rather not compress).
            self._pool = KeepAliveConnection(parts.hostname or "", parts.port or 80)
            self._pool_headers = {
                name: value
                for name, value in self.session.headers.items()
                if name.lower() not in {"accept-encoding", "connection"}
            }

    def _direct_http(self) -> bool:
        """May requests skip ``requests``? Plain http, no proxy for this URL, no login handshake."""
        return self.base_url.startswith("http://") and not self.session.proxies and self.session.auth is None

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} {self.base_url}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
        if self._pool is not None:
            self._pool.close()

    def _configure_auth(self) -> None:
        if self.api_key:
            self.session.headers["X-Api-Key"] = self.api_key

    # --- HTTP -----------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201, 204),
        read_timeout: float | None = None,
        **kwargs: Any,
    ) -> requests.Response | Answer:
        timeout = (self.connect_timeout, read_timeout or self.read_timeout)
        response = None
        if self._pool is not None and kwargs.keys() <= {"params", "json", "headers"}:
            response = self._fast_request(method, path, timeout, **kwargs)
        if response is None:
            response = self._session_request(method, path, timeout, **kwargs)
        if response.status_code in ok:
            return response
        raise self._error_for(response, method, path)

    def _session_request(
        self, method: str, path: str, timeout: tuple[float, float], **kwargs: Any
    ) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            return self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout as exc:
            raise PrinterUnreachable(f"{method} {path}: no answer within {timeout[1]:g}s ({exc})") from exc
        except requests.ConnectionError as exc:
            raise PrinterUnreachable(f"{method} {path}: cannot connect ({exc})") from exc
        except requests.RequestException as exc:
            raise PrinterBadResponse(f"{method} {path}: {exc}") from exc

    def _fast_request(
        self,
        method: str,
        path: str,
        timeout: tuple[float, float],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer | None:
        """The request on the keep-alive connection; None for a redirect (sent again through ``requests``)."""
        url = f"{self._base_path}{path}"
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}"
        send_headers = {**self._pool_headers, **(headers or {})}
        body = None
        if json is not None:
            body = orjson.dumps(json)
            send_headers["Content-Type"] = "application/json"
        try:
            status, content, answer_headers = self._pool.request(
                method,
                url,
                headers=send_headers,
                body=body,
                connect_timeout=timeout[0],
                read_timeout=timeout[1],
            )
        except ConnectPhaseError as exc:
            if exc.timed_out:
                raise PrinterUnreachable(
                    f"{method} {path}: cannot connect within {timeout[0]:g}s ({exc.cause})"
                ) from exc
            raise PrinterUnreachable(f"{method} {path}: cannot connect ({exc.cause})") from exc
        except TimeoutError as exc:
            raise PrinterUnreachable(f"{method} {path}: no answer within {timeout[1]:g}s") from exc
        except OSError as exc:  # reset or closed during the exchange (a fresh connection, too)
            raise PrinterUnreachable(f"{method} {path}: cannot connect ({exc})") from exc
        except (http.client.HTTPException, zlib.error) as exc:
            raise PrinterBadResponse(f"{method} {path}: unreadable answer ({exc!r})") from exc
        if status in REDIRECTS:
            self._pool.close()
            self._pool = None  # a printer that redirects is left to requests, which follows
            return None
        return Answer(status, content, answer_headers)

    def _error_for(self, response: requests.Response | Answer, method: str, path: str) -> PrinterError:
        code = response.status_code
        detail = self._error_detail(response)
        message = f"{method} {path}: HTTP {code}{': ' + detail if detail else ''}"
        if code in (401, 403):
            return PrinterUnauthorized(message)
        if code in (502, 503, 504):
            return PrinterUnreachable(message)
        if 400 <= code < 500:
            return PrinterRejected(message)
        return PrinterBadResponse(message)

    @staticmethod
    def _error_detail(response: requests.Response | Answer) -> str:
        text = response.text[:300].strip()
        try:
            data = response.json()
        except ValueError:
            return text
        if isinstance(data, dict):
            error = data.get("error") or data.get("message") or data.get("text") or data.get("title")
            if isinstance(error, dict):
                error = error.get("message") or str(error)
            if error:
                return str(error)[:300]
        return text

    def _json(self, response: requests.Response | Answer, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise PrinterBadResponse(f"{path}: answer is not JSON: {response.text[:120]!r}") from exc

    def _json_object(self, response: requests.Response | Answer, path: str) -> dict:
        data = self._json(response, path)
        if not isinstance(data, dict):
            raise PrinterBadResponse(f"{path}: expected a JSON object, got {type(data).__name__}")
        return data

    def _get_object(self, path: str, **kwargs: Any) -> dict:
        return self._json_object(self._request("GET", path, **kwargs), path)

    @staticmethod
    def _field(data: Any, *keys: str, path: str) -> Any:
        """data[k1][k2]… or PrinterBadResponse naming the missing field."""
        current = data
        for key in keys:
            if not isinstance(current, dict) or key not in current:
                raise PrinterBadResponse(f"{path}: missing field {'.'.join(keys)}")
            current = current[key]
        return current

    # --- uploads ---------------------------------------------------------------------------------

    @staticmethod
    def _open_upload(path: Path) -> tuple[BinaryIO, int]:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file to upload: {path}")
        handle = path.open("rb")
        return handle, os.fstat(handle.fileno()).st_size

    def _check_sent_digest(self, reader: HashingReader, sha256: str, name: str) -> None:
        """The file changed on disk, or does not match what the job asked for: remove it again."""
        if reader.hexdigest() != sha256.lower():
            try:
                self.delete_file(name)
            except PrinterError as exc:
                logger.warning("could not remove mismatching upload %r from %s: %s", name, self, exc)
            raise PrinterRejected(
                f"uploaded {name!r} has sha256 {reader.hexdigest()}, expected {sha256}; removed it"
            )

    # --- the contract ---------------------------------------------------------------------------

    @abc.abstractmethod
    def get_state(self) -> PrinterState: ...

    @abc.abstractmethod
    def upload(self, path: Path, name: str, sha256: str) -> RemoteFile:
        """Stream a local file to the printer under ``name``; the sha256 is checked as it is sent."""

    @abc.abstractmethod
    def start(self, name: str) -> None: ...

    @abc.abstractmethod
    def pause(self) -> None: ...

    @abc.abstractmethod
    def resume(self) -> None: ...

    @abc.abstractmethod
    def cancel(self) -> None: ...

    @abc.abstractmethod
    def delete_file(self, name: str) -> None: ...

    @abc.abstractmethod
    def list_files(self) -> list[RemoteFile]: ...

    @abc.abstractmethod
    def file_info(self, name: str) -> RemoteFile | None: ...

    @abc.abstractmethod
    def capabilities(self) -> PrinterCapabilities: ...

    # --- operator controls (optional: each raises ControlNotSupported unless the API offers it) --

    def _unsupported(self, control: Control) -> ControlNotSupported:
        return ControlNotSupported(f"the {self.kind} API does not offer {control.value}")

    def set_temperatures(self, *, tool: float | None, bed: float | None) -> None:
        raise self._unsupported(Control.PREHEAT)

    def home(self, axes: list[str]) -> None:
        raise self._unsupported(Control.HOME)

    def jog(self, step: Jog) -> None:
        raise self._unsupported(Control.JOG)

    def set_fan(self, percent: float) -> None:
        raise self._unsupported(Control.FAN)

    def set_speed_factor(self, percent: float) -> None:
        raise self._unsupported(Control.SPEED)

    def set_flow_factor(self, percent: float) -> None:
        raise self._unsupported(Control.FLOW)

    def send_gcode_line(self, line: str) -> None:
        raise self._unsupported(Control.GCODE)

    def print_file(self, name: str) -> None:
        self.start(name)

    def emergency_stop(self) -> None:
        raise self._unsupported(Control.EMERGENCY_STOP)

    # --- webcam (optional) ------------------------------------------------------------------------

    def webcam_snapshot_url(self) -> str | None:
        """Where the printer's host says its webcam serves a still picture, as it wrote it (absolute, or
        relative to ``base_url``); None when the API has no webcam or none is configured."""
        return None
