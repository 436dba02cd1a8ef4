"""Member servers and clients for the data-plane tests (tests/support/dataplane.py runs HAProxy in front).

Members are threaded HTTP(S) servers that answer with their own name and the request headers they received,
and capture servers that record PROXY-protocol headers; clients make one request per fresh connection, from
a chosen source address, with a chosen TLS context. Member sockets can be made inside a network namespace
(ostia.netns.run_in).
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ostia.netns import run_in

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.1,
             tolerate: tuple[type[BaseException], ...] = ()) -> T:
    """Poll `probe` until it returns something truthy; bounded in time. Exceptions of the `tolerate` types
    count as "not yet" (and are shown as the last result if time runs out)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except tolerate as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


# --- members ------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Answers every request with the member's name (X-Member header and JSON body) and the headers it got.

    Query parameters drive behaviour: `sleep=<s>` delays the answer, `setcookie=<name>` sets that cookie to a
    value naming the member. `/health` answers the member's current `health_status`.
    """

    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _MemberServer

    def setup(self) -> None:
        member = self.server.member
        if member.tls is not None:
            self.request = member.tls.wrap_socket(self.request, server_side=True)
        member.connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.member.connections.discard(self.request)

    def _answer(self, body: bool) -> None:
        member = self.server.member
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status = member.health_status if url.path == "/health" else 200
        if url.path != "/health":
            with member.lock:
                member.hits += 1
                member.active += 1
        try:
            if "sleep" in query:
                time.sleep(min(float(query["sleep"]), 10.0))
            payload = json.dumps({"member": member.name, "path": self.path, "method": self.command,
                                  "headers": [[k, v] for k, v in self.headers.items()]}).encode()
            self.send_response(status)
            self.send_header("X-Member", member.name)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if "setcookie" in query:
                self.send_header("Set-Cookie", f"{query['setcookie']}={member.name}-{member.hits}; Path=/")
            self.end_headers()
            if body:
                self.wfile.write(payload)
        finally:
            if url.path != "/health":
                with member.lock:
                    member.active -= 1

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(body=True)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._answer(body=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: checks would flood the output
        pass


class _MemberServer(ThreadingHTTPServer):
    daemon_threads = True
    member: Member

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address with getfqdn(): a DNS query we must not send.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes and dropped connections are part of the tests


class Member:
    """An HTTP (or, with `tls`, HTTPS) member server; `stop()`/`start()` close and reopen its port."""

    def __init__(self, name: str, address: str, tls: ssl.SSLContext | None = None, netns: str | None = None):
        self.name, self.address, self.tls, self.netns = name, address, tls, netns
        self.port = run_in(netns, free_port, address) if netns else free_port(address)
        self.health_status = 200
        self.hits = 0
        self.active = 0
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self._server: _MemberServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    def _listen(self) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, self.port))
        sock.listen(64)
        return sock

    def start(self) -> None:
        server = _MemberServer((self.address, self.port), _Handler, bind_and_activate=False)
        server.socket.close()
        # The listening socket is made in the member's namespace; the server thread may live anywhere.
        server.socket = run_in(self.netns, self._listen) if self.netns else self._listen()
        server.server_name, server.server_port = self.address, self.port
        server.member = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a crashed or stopped backend would."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
        self._server = None


class _CaptureHandler(socketserver.BaseRequestHandler):
    """Reads an optional PROXY v1/v2 header and one HTTP request head, records the raw bytes, answers 200."""

    server: _CaptureServer

    def handle(self) -> None:
        self.request.settimeout(5)
        data = b""
        with contextlib.suppress(OSError):
            while len(data) < 65536:
                head = _proxy_header_length(data)
                if head is not None and b"\r\n\r\n" in data[head:]:
                    break
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                data += chunk
            member = self.server.member
            member.received.append(data)
            body = member.name.encode()
            self.request.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Member: " + body +
                                 b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def _proxy_header_length(data: bytes) -> int | None:
    """Bytes taken by a leading PROXY header (0 if none), or None until enough has arrived to tell."""
    if data.startswith(PROXY_V2_SIGNATURE):
        return 16 + int.from_bytes(data[14:16], "big") if len(data) >= 16 else None
    if PROXY_V2_SIGNATURE.startswith(data[:12]) and len(data) < 12:
        return None
    if data.startswith(b"PROXY "):
        end = data.find(b"\r\n")
        return None if end < 0 else end + 2
    return 0


class _CaptureServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    member: CaptureMember

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class CaptureMember:
    """A member that records what it receives (PROXY protocol headers included) and answers HTTP 200."""

    def __init__(self, name: str, address: str) -> None:
        self.name, self.address = name, address
        self.received: list[bytes] = []
        self._server = _CaptureServer((address, 0), _CaptureHandler)
        self._server.member = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def server_tls_context(bundle: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(bundle))
    return ctx


def client_tls_context(ca: Path | None = None, cert: Path | None = None, *, alpn: list[str] | None = None,
                       max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client context that verifies the chain against `ca` (names are not checked: we dial 127.x addresses)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


# --- clients ------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def member(self) -> str | None:
        return self.headers.get("x-member")

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def seen_header(self, name: str) -> list[str]:
        """Values of a request header as the member received it."""
        return [v for k, v in self.json()["headers"] if k.lower() == name.lower()]


def request(url: str, *, method: str = "GET", source: str | None = None, headers: dict[str, str] | None = None,
            cookies: dict[str, str] | None = None, tls: ssl.SSLContext | None = None, sni: str | None = None,
            timeout: float = 5.0) -> Reply:
    """One request on a fresh connection (so every request is balanced on its own), optionally from a given
    source address, with a TLS context (client certificate, CA) and an SNI name."""
    transport = httpx.HTTPTransport(local_address=source, verify=tls or False, retries=0)
    extensions = {"sni_hostname": sni} if sni else None
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        if cookies:
            client.cookies.update(cookies)
        resp = client.request(method, url, headers=headers, extensions=extensions)
        return Reply(resp.status_code, resp.headers, resp.content)


def members_hit(url: str, n: int, **kw: Any) -> list[str | None]:
    return [request(url, **kw).member for _ in range(n)]


def raw_http_get(sock: socket.socket, path: str = "/", host: str = "lb") -> Reply:
    """HTTP/1.0 GET over an already-connected socket (e.g. one made inside a namespace)."""
    with sock:
        sock.settimeout(5)
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while len(data) < 1 << 20 and (chunk := sock.recv(65536)):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = httpx.Headers([(k, v) for k, _, v in (line.partition(": ") for line in lines[1:]) if v])
    return Reply(int(lines[0].split()[1]), headers, body)


def tls_handshake(host: str, port: int, ctx: ssl.SSLContext, sni: str | None = None,
                  source: str | None = None) -> tuple[str, str | None, str | None]:
    """(server certificate CN, negotiated ALPN, TLS version) of a completed handshake; raises on failure."""
    with socket.create_connection((host, port), timeout=5, source_address=(source, 0) if source else None) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return str(cn), tls.selected_alpn_protocol(), tls.version()
