"""Real HTTP member servers for data-plane tests: each answers with its own name (threads, real sockets)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = f"{self.server.name}\n".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Member", self.server.name)  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


class HttpBackend:
    def __init__(self, name: str, address: str, port: int = 0) -> None:
        self.server = http.server.ThreadingHTTPServer((address, port), _Handler)
        self.server.daemon_threads = True
        self.server.name = name  # type: ignore[attr-defined]
        self.name = name
        self.address = address
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@contextlib.contextmanager
def http_backends(*specs: tuple[str, str], port: int = 0) -> Iterator[list[HttpBackend]]:
    """(name, address) pairs; with `port` 0 each gets its own free port, else all share `port`."""
    started: list[HttpBackend] = []
    try:
        for name, address in specs:
            started.append(HttpBackend(name, address, port))
        yield started
    finally:
        for b in started:
            b.close()
