"""A machine's webcam picture, fetched server-side so the camera never faces the browser.

Where the picture comes from, first match wins:

1. the machine's ``WEBCAM_SNAPSHOT_URL`` setting (staff set it for any driver);
2. the driver's optional ``get_snapshot_url`` hook (OctoPrint's ``webcam.snapshotUrl``, Moonraker's
   webcam list), remembered for ``URL_CACHE_SECONDS`` so a page that refreshes the picture every few
   seconds does not ask the printer every time.

URL policy: the same as for the machine's own URL (``URL``/``HOST``), which staff type and which lives
on the lab's private network: http(s) only, private and loopback addresses allowed, no redirects
followed. A URL the printer reports (not typed by staff) must stay on the printer's own host; the
driver hook checks that (``drivers.base.webcam_url_on_printer``).

The fetch has a short connect timeout, a total deadline, a size limit, and keeps only raster images
(JPEG, PNG, GIF, WebP: checked by content type and by the first bytes); an SVG from a camera could
carry script and is refused. Every failure is a ``CameraUnavailable`` whose message the page shows
in a placeholder picture.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from html import escape
from textwrap import wrap
from urllib.parse import urlsplit

import requests
from django.core.cache import cache

from machines.machine_types.base import BaseDriver, BaseMachineType
from machines.machine_types.printer_state import PrinterError
from mes.outgoing import describe_connection_error

logger = logging.getLogger(__name__)

SNAPSHOT_URL_SETTING = "WEBCAM_SNAPSHOT_URL"
CONNECT_TIMEOUT = 2.0  # seconds: a camera on the lab network answers a connect at once
DEADLINE = 4.0  # seconds for the whole answer (a trickling camera is cut off)
MAX_BYTES = 5 * 1024 * 1024
URL_CACHE_SECONDS = 60
CHUNK = 64 * 1024
# Content type -> the first bytes of such a file.
IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
_NO_CAMERA = ""  # cached: the driver says this machine has no camera


class CameraUnavailable(Exception):
    """No picture now; the message says why, for the placeholder (no secrets, no stack traces)."""


@dataclass(frozen=True)
class Snapshot:
    content: bytes
    content_type: str


def _url_cache_key(machine: BaseMachineType) -> str:
    return f"machines:camera-url:{machine.id}"


def _staff_url(machine: BaseMachineType) -> str:
    if SNAPSHOT_URL_SETTING not in machine.definitions:
        return ""
    return str(machine.get_setting(SNAPSHOT_URL_SETTING) or "").strip()


def _driver_offers_camera(machine: BaseMachineType) -> bool:
    driver = machine.driver
    return driver is not None and type(driver).get_snapshot_url is not BaseDriver.get_snapshot_url


def camera_expected(machine: BaseMachineType) -> bool:
    """Should the page show a camera picture? No network: the staff setting, or a driver that can
    report a webcam and has not told us (within the cache time) that it has none."""
    if _staff_url(machine):
        return True
    if not _driver_offers_camera(machine):
        return False
    return cache.get(_url_cache_key(machine)) != _NO_CAMERA


def camera_snapshot_url(machine: BaseMachineType) -> str | None:
    """The machine's snapshot URL, or None when it has no camera. Raises CameraUnavailable when the
    driver could not be asked (printer down) or reported a URL that may not be called."""
    staff = _staff_url(machine)
    if staff:
        return staff
    if not _driver_offers_camera(machine):
        return None
    key = _url_cache_key(machine)
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    try:
        url = machine.driver.get_snapshot_url(machine)
    except PrinterError as exc:
        raise CameraUnavailable(f"could not ask the printer for its camera ({exc})") from exc
    except ValueError as exc:  # a reported URL the driver refuses (another host, not http)
        raise CameraUnavailable(str(exc)) from exc
    except Exception as exc:  # a plugin's hook failed: logged with its trace, the page says so
        logger.exception("driver %s failed to report the camera of %s", machine.driver, machine.name)
        raise CameraUnavailable(f"the driver failed to report its camera ({type(exc).__name__})") from exc
    cache.set(key, url or _NO_CAMERA, URL_CACHE_SECONDS)
    return url or None


def check_camera_url(url: str) -> str:
    """The URL, if it may be called: http(s) with a host (the machine-host policy, see above)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise CameraUnavailable(f"the camera URL is not valid ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CameraUnavailable("the camera URL must be an http:// or https:// URL with a host")
    return url


def _verify_tls(machine: BaseMachineType | None) -> bool:
    if machine is not None and "VERIFY_TLS" in machine.definitions:
        return bool(machine.get_setting("VERIFY_TLS"))
    return True


def camera_fetch(url: str, *, verify_tls: bool = True) -> Snapshot:
    """GET one picture from the camera within the limits above; raises CameraUnavailable."""
    check_camera_url(url)
    deadline = time.monotonic() + DEADLINE
    try:
        with requests.get(
            url,
            stream=True,
            timeout=(CONNECT_TIMEOUT, DEADLINE),
            allow_redirects=False,
            verify=verify_tls,
            headers={"Accept": ", ".join(IMAGE_MAGIC), "User-Agent": "lab-mes camera proxy"},
        ) as response:
            if response.status_code != 200:
                raise CameraUnavailable(f"the camera answered HTTP {response.status_code}")
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type not in IMAGE_MAGIC:
                raise CameraUnavailable(
                    f"the camera sent {content_type or 'something without a type'}, not a picture"
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_BYTES:
                raise CameraUnavailable(f"the picture is larger than {MAX_BYTES // 1024 // 1024} MiB")
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise CameraUnavailable(f"the picture is larger than {MAX_BYTES // 1024 // 1024} MiB")
                if time.monotonic() > deadline:
                    raise CameraUnavailable(f"the camera took longer than {DEADLINE:g} s to send the picture")
    except requests.RequestException as exc:
        raise CameraUnavailable(f"camera not reachable: {describe_connection_error(exc)}") from exc
    content = bytes(body)
    if not content.startswith(IMAGE_MAGIC[content_type]) or (
        content_type == "image/webp" and content[8:12] != b"WEBP"
    ):
        raise CameraUnavailable(f"the camera's answer is not a {content_type.split('/')[1].upper()} picture")
    return Snapshot(content=content, content_type=content_type)


def machine_snapshot(machine: BaseMachineType) -> Snapshot:
    """The machine's current camera picture; raises CameraUnavailable (no camera is one reason)."""
    url = camera_snapshot_url(machine)
    if not url:
        raise CameraUnavailable("this machine has no camera (set WEBCAM_SNAPSHOT_URL to add one)")
    return camera_fetch(url, verify_tls=_verify_tls(machine))


def placeholder_svg(message: str, *, title: str = "Camera unavailable") -> bytes:
    """A 4:3 grey picture with the reason, in place of the camera's (never a broken image)."""
    lines = wrap(message, 44)[:4]
    text = "".join(
        f'<text x="160" y="{128 + 18 * index}" font-size="13" text-anchor="middle" fill="#ddd">'
        f"{escape(line)}</text>"
        for index, line in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240" '
        f'role="img" aria-label="{escape(title)}: {escape(message)}">'
        '<rect width="320" height="240" fill="#3a3f44"/>'
        '<text x="160" y="100" font-size="16" font-family="sans-serif" text-anchor="middle" '
        f'fill="#fff">{escape(title)}</text><g font-family="sans-serif">{text}</g></svg>'
    ).encode()
