"""Checks for requests this lab makes to URLs that someone else chose (partner labs, webhooks).

A URL typed by a staff member or published by a partner must not make Lab MES call into the lab's own
network (server-side request forgery): the host is resolved and every address it resolves to must be a
public one, unless it lies inside ``settings.OUTGOING_ALLOWED_NETWORKS`` (e.g. ``10.20.0.0/16`` for
partner labs on the campus network, ``127.0.0.0/8`` in tests). Ground floor: imports no app.

Written by hand on ``ipaddress`` and ``socket``: the libraries for this (advocate, …) are unmaintained
or pin old requests versions. The check runs just before the request; a DNS answer that changes in
between (rebinding) is not caught here, so redirects stay off for these requests.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}


class OutgoingURLRefused(ValueError):
    """The URL may not be called; the message says why (for the person who entered it)."""


def parse_networks(values: Iterable[str]) -> list[Network]:
    """CIDRs (``10.0.0.0/8``, ``::1/128``) or single addresses; raises ValueError naming the bad one."""
    networks = []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP network such as 10.0.0.0/8") from None
    return networks


def _allowed_networks() -> list[Network]:
    return parse_networks(getattr(settings, "OUTGOING_ALLOWED_NETWORKS", []))


def _why_not_public(address: Address) -> str | None:
    """None for a public address, else the kind of address it is."""
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


def _resolve(host: str, port: int) -> list[Address]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutgoingURLRefused(f"the host {host} does not resolve ({_resolver_reason(exc)})") from None
    addresses = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # IPv6 scope ids ("fe80::1%eth0")
        addresses.append(ipaddress.ip_address(text))
    return addresses


def _resolver_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror) and exc.errno in (
        socket.EAI_NONAME,
        getattr(socket, "EAI_NODATA", -5),
    ):
        return "no such host"
    if isinstance(exc, UnicodeError):
        return "not a valid host name"
    return "name lookup failed"


def check_outgoing_url(url: str) -> None:
    """Raise OutgoingURLRefused unless ``url`` is http(s) and its host resolves only to addresses we
    may call: public ones, or ones inside OUTGOING_ALLOWED_NETWORKS."""
    try:
        parsed = urlsplit(str(url).strip())
        port = parsed.port
    except ValueError as exc:
        raise OutgoingURLRefused(f"{url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in DEFAULT_PORTS:
        raise OutgoingURLRefused(
            f"only http and https URLs may be called, not {parsed.scheme or 'no scheme'}"
        )
    host = parsed.hostname
    if not host:
        raise OutgoingURLRefused(f"{url!r} names no host")
    if parsed.username is not None or parsed.password is not None:
        raise OutgoingURLRefused("URLs with a user name or password are not called")
    addresses = _resolve(host, port or DEFAULT_PORTS[parsed.scheme])
    if not addresses:
        raise OutgoingURLRefused(f"the host {host} does not resolve (no addresses)")
    allowed = _allowed_networks()
    for address in addresses:
        checked = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        checked = checked or address
        if any(checked.version == network.version and checked in network for network in allowed):
            continue
        kind = _why_not_public(checked)
        if kind:
            via = "" if str(checked) == host else f"{host} resolves to "
            raise OutgoingURLRefused(
                f"{via}{kind} {checked}; allow it with OUTGOING_ALLOWED_NETWORKS if it is meant to be reached"
            )


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests → urllib3 → socket), without loops."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is known for known in seen) or len(seen) > 20:
            continue
        seen.append(current)
        for nested in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                todo.append(nested)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return seen


def _named(*names: str):
    """Matches an exception by its exact class name, so optional libraries need not be imported (and
    urllib3's NewConnectionError, a subclass of ConnectTimeoutError, is not taken for a timeout)."""
    return lambda error: type(error).__name__ in names


def _is(*classes: type[BaseException]):
    return lambda error: isinstance(error, classes)


def _os_error_text(error: BaseException) -> str:
    return f"the connection failed ({error.strerror.lower()})"  # type: ignore[attr-defined]


# The first rule any exception in the chain matches gives the message; most specific first.
_RULES = [
    (_is(OutgoingURLRefused), lambda error: f"refused to connect: {error}"),
    (
        _is(ssl.SSLCertVerificationError),
        lambda error: (
            "the server's TLS certificate was not accepted "
            f"({getattr(error, 'verify_message', '') or 'verification failed'})"
        ),
    ),
    (
        _named("ClientConnectorCertificateError"),
        lambda error: "the server's TLS certificate was not accepted",
    ),
    (_is(ssl.SSLError), lambda error: "the TLS handshake failed"),
    (
        _named("SSLError", "ClientSSLError", "ClientConnectorSSLError"),
        lambda error: "the TLS handshake failed",
    ),
    (_is(socket.gaierror), lambda error: "the host name does not resolve"),
    (
        _named("NameResolutionError", "ClientConnectorDNSError"),
        lambda error: "the host name does not resolve",
    ),
    (_is(ConnectionRefusedError), lambda error: "the connection was refused (nothing listens on that port)"),
    (
        _named("ConnectTimeout", "ConnectTimeoutError", "ConnectionTimeoutError"),
        lambda error: "timed out while connecting",
    ),
    (
        _named("ReadTimeout", "ReadTimeoutError", "SocketTimeoutError", "ServerTimeoutError"),
        lambda error: "timed out waiting for the answer",
    ),
    (_is(TimeoutError), lambda error: "timed out"),
    (_named("Timeout"), lambda error: "timed out"),
    (_is(ConnectionResetError, BrokenPipeError), lambda error: "the server closed the connection"),
    (
        _named("ServerDisconnectedError", "RemoteDisconnected"),
        lambda error: "the server closed the connection",
    ),
    (_named("TooManyRedirects"), lambda error: "too many redirects"),
    (
        _named("InvalidURL", "InvalidSchema", "MissingSchema", "InvalidURLError", "LocationParseError"),
        lambda error: "the URL is not valid",
    ),
    (
        _named("ChunkedEncodingError", "ContentDecodingError", "ProtocolError", "ClientPayloadError"),
        lambda error: "the answer was cut off or malformed",
    ),
    (
        lambda error: (
            type(error).__module__ == "builtins" and isinstance(error, OSError) and bool(error.strerror)
        ),
        _os_error_text,
    ),
    (
        _named("ConnectionError", "ClientConnectionError", "ClientConnectorError", "NewConnectionError"),
        lambda error: "the connection failed",
    ),
]


def describe_connection_error(exc: BaseException) -> str:
    """A short message for a failed outgoing request (requests, urllib3, aiohttp or the socket
    layer), instead of the library's text with its object reprs, addresses and retry counts."""
    chain = _causes(exc)
    for matches, message in _RULES:
        for error in chain:
            if matches(error):
                return message(error)
    return "the request failed"
