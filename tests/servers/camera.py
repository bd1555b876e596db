"""A real local HTTP server that plays webcams for the camera proxy tests.

Paths: ``/snapshot.jpg`` a JPEG, ``/page.html`` an HTML page, ``/liar.jpg`` HTML sent as image/jpeg,
``/logo.svg`` an SVG, ``/big.jpg`` a JPEG of ``BIG_BYTES``, ``/moved`` a redirect to the JPEG,
``/hang`` accepts and never answers (until the server stops), anything else 404.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A 1x1 baseline JPEG (the proxy checks the type and the first bytes; it never decodes pictures).
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912"
    "130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001"
    "000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103"
    "03020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024336272"
    "82090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475"
    "767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9"
    "cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)
BIG_BYTES = 64 * 1024


class CameraServer:
    def __init__(self) -> None:
        self.stop_hanging = threading.Event()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                path = self.path.split("?")[0]
                if path == "/snapshot.jpg":
                    self._send(200, "image/jpeg", JPEG)
                elif path == "/page.html":
                    self._send(200, "text/html; charset=utf-8", b"<html><body>login</body></html>")
                elif path == "/liar.jpg":
                    self._send(200, "image/jpeg", b"<html><body>not a picture</body></html>")
                elif path == "/logo.svg":
                    self._send(200, "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>')
                elif path == "/big.jpg":
                    self._send(200, "image/jpeg", JPEG[:-2] + b"\0" * BIG_BYTES + JPEG[-2:])
                elif path == "/moved":
                    self._send(302, "text/plain", b"", Location="/snapshot.jpg")
                elif path == "/hang":
                    server.stop_hanging.wait(60)
                else:
                    self._send(404, "text/plain", b"no such camera")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="camera-server", daemon=True
        )
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> CameraServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.stop_hanging.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
