"""Real data-plane test rig: HAProxy started from a rendered spec, real member servers, and clients.

A `Dataplane` (one per test, use `with dataplane() as dp`) owns everything a test starts and stops it all on
exit: HAProxy master-worker processes (`haproxy -W -S master.sock -D -f cfg -p pid`, as the agent will run
it), member servers on distinct 127.x addresses (threaded HTTP(S) servers answering with their own name and
the request headers they received; PROXY-protocol capture servers), network namespaces, and a short working
directory (UNIX socket paths are limited to 107 bytes, pytest's tmp_path can be longer).

Each test picks a random 127.a.b.0/24 block, so parallel runs by other people on this machine do not collide.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ostia.domain.spec import ListenerSpec, ListenerTlsSpec, LoadBalancerSpec, PoolSpec, RenderSettings
from ostia.render.haproxy import render_crt_list, render_haproxy
from tests.support.backends import (
    PROXY_V2_SIGNATURE,
    CaptureMember,
    Member,
    Reply,
    client_tls_context,
    free_port,
    ip,
    members_hit,
    raw_http_get,
    request,
    server_tls_context,
    tls_handshake,
    wait_for,
)

# Re-exported: test modules import the whole rig from here.
__all__ = ["PROXY_V2_SIGNATURE", "CaptureMember", "Member", "Reply", "client_tls_context", "ip",
           "members_hit", "raw_http_get", "request", "server_tls_context", "tls_handshake", "wait_for",
           "Dataplane", "Haproxy", "dataplane", "start_haproxy", "unix_command", "HAPROXY"]

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PING = shutil.which("ping") or "/usr/bin/ping"


# --- HAProxy ------------------------------------------------------------------------------------------------


def unix_command(path: str, command: str, timeout: float = 5.0) -> str:
    """One command on an HAProxy stats or master socket (non-interactive: it closes after answering)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


@dataclass
class Haproxy:
    """A running HAProxy master-worker started from a rendered spec."""

    spec: LoadBalancerSpec
    root: Path
    config: str
    master_pid: int
    stats_socket: str

    def stat(self) -> dict[tuple[str, str], dict[str, str]]:
        """`show stat` rows keyed by (proxy, server)."""
        text = unix_command(self.stats_socket, "show stat").lstrip("# ")
        return {(row["pxname"], row["svname"]): row for row in csv.DictReader(io.StringIO(text))}

    def server_status(self, backend: str, server: str) -> str:
        return self.stat()[(backend, server)]["status"]

    def wait_status(self, backend: str, server: str, prefix: str, timeout: float = 8.0) -> str:
        def status() -> str | None:
            s = self.server_status(backend, server)
            return s if s.startswith(prefix) else None

        return wait_for(f"{backend}/{server} {prefix}", status, timeout)

    def stop(self) -> None:
        workers = _children(self.master_pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.master_pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in [self.master_pid, *workers]):
            time.sleep(0.05)
        for pid in [self.master_pid, *workers]:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def start_haproxy(spec: LoadBalancerSpec, netns: str | None = None) -> Haproxy:
    """Render `spec`, write haproxy.cfg beside its settings' base_dir and start HAProxy; waits for the stats
    socket to answer (the worker is serving then)."""
    root = Path(spec.settings.base_dir)
    config = render_haproxy(spec)
    cfg = root / "haproxy.cfg"
    cfg.write_text(config)
    prefix = ["ip", "netns", "exec", netns] if netns else []
    cmd = [*prefix, HAPROXY, "-W", "-S", str(root / "master.sock"), "-D", "-f", str(cfg), "-p", str(root / "pid")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise AssertionError(f"haproxy did not start ({res.returncode}):\n{res.stdout}{res.stderr}\n{config}")
    def pid_file() -> str | None:
        return (root / "pid").read_text().strip() if (root / "pid").exists() else None

    pid = int(wait_for("haproxy pid file", pid_file))
    stats = spec.settings.stats_socket or f"{root}/{spec.id}.sock"
    proc = Haproxy(spec=spec, root=root, config=config, master_pid=pid, stats_socket=stats)

    def answers() -> bool:
        with contextlib.suppress(OSError):
            return "Name: HAProxy" in unix_command(stats, "show info", timeout=1)
        return False

    try:
        wait_for("haproxy stats socket", answers, timeout=10)
    except AssertionError:
        proc.stop()
        raise
    return proc


# --- the per-test rig ---------------------------------------------------------------------------------------


@dataclass
class Dataplane:
    root: Path
    net: str  # "127.a.b." — this test's address block
    members: list[Member | CaptureMember] = field(default_factory=list)
    haproxies: list[Haproxy] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    _n: int = 0

    def addr(self, host: int) -> str:
        return f"{self.net}{host}"

    @property
    def vip(self) -> str:
        return self.addr(1)

    def port(self, host: str | None = None) -> int:
        return free_port(host or self.vip)

    def settings(self, name: str = "lb") -> RenderSettings:
        base = self.root / name
        base.mkdir(exist_ok=True)
        (base / "certs").mkdir(exist_ok=True)
        return RenderSettings(base_dir=str(base), cert_dir=str(base / "certs"), log_target=None, user=None,
                              stats_socket=str(base / "stats.sock"), server_state_file=False,
                              ping_wrapper=str(base / "ping-wrapper.sh"))

    def member(self, name: str, tls: ssl.SSLContext | None = None, netns: str | None = None,
               address: str | None = None) -> Member:
        self._n += 1
        m = Member(name, address or self.addr(10 + self._n), tls=tls, netns=netns)
        self.members.append(m)
        return m

    def capture_member(self, name: str) -> CaptureMember:
        self._n += 1
        m = CaptureMember(name, self.addr(10 + self._n))
        self.members.append(m)
        return m

    def netns(self) -> str:
        name = f"ostia-dp-{os.getpid()}-{random.randrange(1 << 30):x}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def write(self, settings: RenderSettings, file: str, data: bytes) -> str:
        path = Path(settings.cert_dir) / file
        path.write_bytes(data)
        return str(path)

    def listener_tls(self, settings: RenderSettings, listener_id: str, certificates: list[bytes],
                     client_ca: bytes | None = None, crl: bytes | None = None, **kw: Any) -> ListenerTlsSpec:
        """A TERMINATED_HTTPS listener's TLS spec with its files written where the spec says."""
        paths = tuple(self.write(settings, f"{listener_id}-{i}.pem", c) for i, c in enumerate(certificates))
        tls = ListenerTlsSpec(
            crt_list_path=str(Path(settings.cert_dir) / f"{listener_id}.crt-list"), certificates=paths,
            client_ca_path=self.write(settings, f"{listener_id}-ca.pem", client_ca) if client_ca else None,
            client_crl_path=self.write(settings, f"{listener_id}-crl.pem", crl) if crl else None, **kw)
        Path(tls.crt_list_path).write_text(render_crt_list(tls))
        return tls

    def haproxy(self, listeners: tuple[ListenerSpec, ...] | list[ListenerSpec], pools: tuple[PoolSpec, ...] |
                list[PoolSpec], settings: RenderSettings | None = None, netns: str | None = None,
                vip: str | None = None) -> Haproxy:
        s = settings or self.settings()
        if any(p.health_monitor and p.health_monitor.type == "PING" for p in pools):
            # What the agent writes: HAProxy's external check passes the server address as $3 (and runs the
            # command with an empty PATH, hence the absolute path).
            Path(s.ping_wrapper).write_text(f'#!/bin/sh\nexec {PING} -c1 -W1 "$3" >/dev/null 2>&1\n')
            Path(s.ping_wrapper).chmod(0o755)
        spec = LoadBalancerSpec(id="lb-dp", project_id="project-dp", vip_addresses=(vip or self.vip,),
                                listeners=tuple(listeners), pools=tuple(pools), settings=s)
        proc = start_haproxy(spec, netns=netns)
        self.haproxies.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.haproxies:
            proc.stop()
        for m in self.members:
            m.stop()
        for name in self.namespaces:
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", name)


@contextlib.contextmanager
def dataplane() -> Iterator[Dataplane]:
    root = Path(tempfile.mkdtemp(prefix="ostia-dp-"))
    net = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}."
    dp = Dataplane(root=root, net=net)
    try:
        yield dp
    finally:
        dp.close()
        shutil.rmtree(root, ignore_errors=True)
