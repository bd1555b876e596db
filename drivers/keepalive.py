"""One keep-alive HTTP/1.1 connection to a printer, on the standard library's ``http.client``.

The poll's hot path: at 1000 printers and a 2 s cadence, 500-1000 requests a second. urllib3's pool
costs about 220 µs of CPU per request, this connection about 115 µs (``bench/http_bench.py``):
the pool, retry and timeout objects and the response wrapper are work that a client with one
connection, used by one thread at a time, does not need.

What urllib3 did that still matters is done here:

- a connection the printer closed while it sat idle is noticed before it is used (it reads as
  "readable" at once), so a command is never sent into a dead socket; a GET that still meets a
  connection closed under it is sent once more on a fresh one (it changes nothing on the printer);
- separate connect and read timeouts;
- a compressed answer is decompressed (none is asked for: JSON answers on a lab's network are small,
  and a Raspberry Pi would rather not compress them).
"""

from __future__ import annotations

import http.client
import select
import zlib
from collections.abc import Mapping
from email.message import Message

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
# A reused connection the peer had closed fails with one of these, before any answer arrives.
_CLOSED_UNDER_US = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class ConnectPhaseError(OSError):
    """The TCP connection could not be made (refused, unreachable, no name, or the connect timed out)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.timed_out = isinstance(cause, TimeoutError)


class KeepAliveConnection:
    """Not thread-safe, as the printer client that owns it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> tuple[int, bytes, Message]:
        """(status, body, headers). Connect failures raise ``ConnectPhaseError``; a read timeout
        ``TimeoutError``; a broken answer ``http.client.HTTPException`` or ``OSError``."""
        for attempt in (1, 2):
            reused = self._usable()
            conn = self._conn if reused else self._connect(connect_timeout)
            conn.sock.settimeout(read_timeout)
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except _CLOSED_UNDER_US:
                self.close()
                if reused and attempt == 1 and method in IDEMPOTENT:
                    continue
                raise
            except BaseException:
                self.close()  # half a request or answer on it: never reuse
                raise
            if response.will_close:
                self.close()
            return response.status, _decoded(data, response.headers), response.headers
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _usable(self) -> bool:
        """Is there an open connection the printer has not closed meanwhile?"""
        conn = self._conn
        if conn is None or conn.sock is None:
            return False
        readable, _, _ = select.select([conn.sock], [], [], 0)
        if readable:  # an idle keep-alive connection has nothing to read unless it was closed
            self.close()
            return False
        return True

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        self.close()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise ConnectPhaseError(exc) from exc
        self._conn = conn
        return conn


def _decoded(data: bytes, headers: Message) -> bytes:
    encoding = (headers.get("Content-Encoding") or "").strip().lower()
    if encoding == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(data)
        except zlib.error:  # raw deflate, as some servers send it
            return zlib.decompress(data, -zlib.MAX_WBITS)
    return data
