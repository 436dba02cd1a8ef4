"""Real UDP backends and clients for the UDP listener tests: echo servers that answer with their own name, TCP and
HTTP monitor endpoints, unique 127.x addresses, and a UdpService fixture that cleans up every nginx it started."""

from __future__ import annotations

import contextlib
import http.server
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ostia.agent.udp import UdpService


def unique_net() -> str:
    """A random 127.a.b prefix, so parallel tests (and other people's) never share addresses."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"


def udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


class EchoServer:
    """A UDP server on a thread answering every datagram with its name; stop() closes the socket, so probes get
    an ICMP port-unreachable, and start() opens it again on the same address and port."""

    def __init__(self, name: str, address: str, port: int = 0, before: Callable[[], None] | None = None) -> None:
        self.name, self.address, self.port = name, address, port
        self._before = before  # e.g. join a network namespace on the server thread
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()

    def start(self) -> EchoServer:
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(5), "echo server did not bind"
        return self

    def _serve(self) -> None:
        if self._before:
            self._before()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.address, self.port))
            self.port = sock.getsockname()[1]
            sock.settimeout(0.05)
            self._ready.set()
            while not self._stop.is_set():
                try:
                    _, peer = sock.recvfrom(2048)
                except (TimeoutError, ConnectionRefusedError):
                    continue
                sock.sendto(self.name.encode(), peer)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class TcpListener:
    """A bare listening TCP socket (the kernel completes connects): what a TCP monitor checks."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self._sock: socket.socket | None = None

    def start(self) -> TcpListener:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._sock = sock
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class HealthHttp:
    """An HTTP server answering every GET with `status` (changeable while running)."""

    def __init__(self, address: str) -> None:
        owner = self
        self.status = 200
        self.paths: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                owner.paths.append(self.path)
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def ask(vip: str, port: int, source: str | None = None, timeout: float = 1.0) -> str | None:
    """One request through the VIP from a fresh socket (a new UDP session): the answering member's name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if source:
            sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.sendto(b"who?", (vip, port))
        try:
            data, _ = sock.recvfrom(2048)
        except (TimeoutError, ConnectionRefusedError):
            return None
        return data.decode()


def answers(vip: str, port: int, count: int, source: str | None = None) -> list[str | None]:
    return [ask(vip, port, source) for _ in range(count)]


def spec(listener_id: str, vip: str, port: int, members: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": listener_id, "protocol_port": port, "vip_addresses": [vip],
                            "lb_algorithm": "ROUND_ROBIN", "members": members}
    body.update(extra)
    return body


def member(member_id: str, server: EchoServer, **extra: Any) -> dict[str, Any]:
    return {"id": member_id, "address": server.address, "protocol_port": server.port, **extra}


class Agent:
    """A UdpService under a test client, the way the agent app mounts it."""

    def __init__(self, base: Path, namespace: str | None = None) -> None:
        self.base = base
        self.service = UdpService(base, namespace)
        app = FastAPI()
        app.include_router(self.service.router)
        self.client = TestClient(app)

    def put(self, body: dict[str, Any]) -> Any:
        return self.client.put(f"/1.0/listeners/amp-1/{body['id']}/udp_listener", json=body)

    def conf(self, listener_id: str) -> str:
        resp = self.client.get(f"/1.0/listeners/{listener_id}/udp_listener")
        assert resp.status_code == 200, resp.text
        return str(resp.text)

    def close(self) -> None:
        self.service.stop()
        root = self.base / "udp"
        for directory in root.iterdir() if root.is_dir() else []:
            self.service.delete(directory.name)
        self.client.close()


@pytest.fixture(name="agent")
def agent_fixture(tmp_path: Path) -> Iterator[Agent]:
    """The `agent` fixture of the UDP tests (import agent_fixture to use it): an Agent on tmp_path, closed after."""
    a = Agent(tmp_path)
    try:
        yield a
    finally:
        a.close()


@contextlib.contextmanager
def running(*servers: EchoServer) -> Iterator[None]:
    for s in servers:
        s.start()
    try:
        yield
    finally:
        for s in servers:
            s.stop()
