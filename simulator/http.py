"""Response helpers shared by the personalities (fault-aware JSON, streaming upload intake)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from .model import GcodeScanner, SimFile, SimPrinter

CHUNK = 64 * 1024
Handler = Callable[[SimPrinter, web.Request, dict], Awaitable[web.StreamResponse]]


def json_response(
    printer: SimPrinter, data: Any, status: int = 200, headers: dict | None = None
) -> web.Response:
    body = json.dumps(data, separators=(",", ":"))
    if printer.faults.get("malformed_json"):
        body = body[: max(1, len(body) // 2)]
    return web.Response(text=body, status=status, content_type="application/json", headers=headers)


def empty(status: int = 204) -> web.Response:
    return web.Response(status=status)


async def read_stream_to_file(name: str, stream) -> SimFile:
    """Scan an upload as it arrives; the simulator keeps metadata only, never the bytes."""
    scanner = GcodeScanner()
    while True:
        chunk = (
            await stream.read(CHUNK)
            if not isinstance(stream, BodyPartReader)
            else await stream.read_chunk(CHUNK)
        )
        if not chunk:
            break
        scanner.feed(chunk)
    return scanner.finish(name)


async def read_multipart(
    request: web.Request, file_field: str = "file"
) -> tuple[SimFile | None, dict[str, str]]:
    """A multipart upload: the file part scanned as it streams, the other fields as text."""
    reader = await request.multipart()
    fields: dict[str, str] = {}
    file: SimFile | None = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == file_field and part.filename is not None:
            file = await read_stream_to_file(part.filename, part)
        else:
            fields[part.name or ""] = await part.text()
    return file, fields


class Router:
    """A tiny method + pattern table; patterns use ``{name}`` for one segment, ``{name:path}`` for the rest."""

    def __init__(self):
        self._routes: list[tuple[str, list[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, pattern.strip("/").split("/"), handler))

    def match(self, method: str, tail: str) -> tuple[Handler | None, dict, bool]:
        """(handler, params, path_known); path_known without a handler means 405."""
        segments = tail.strip("/").split("/")
        path_known = False
        for route_method, parts, handler in self._routes:
            params = _match(parts, segments)
            if params is None:
                continue
            path_known = True
            if route_method == method or (route_method == "GET" and method == "HEAD"):
                return handler, params, True
        return None, {}, path_known


def _match(parts: list[str], segments: list[str]) -> dict | None:
    params: dict[str, str] = {}
    for i, part in enumerate(parts):
        if part.startswith("{") and part.endswith(":path}"):
            rest = "/".join(segments[i:])
            if not rest:
                return None
            params[part[1:-6]] = rest
            return params
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(parts) == len(segments) else None
