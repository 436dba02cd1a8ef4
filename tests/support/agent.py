"""A real `ostia agent` process for tests: a local CA, its certificates, agent.conf, an mTLS httpx client.

    with running_agent(workdir) as agent:
        agent.get("/1.0/info").json()
        agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy", content=cfg)
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.certificates.tls import client_context
from tests.support.processes import free_port, stop

OSTIA = str(Path(sys.executable).with_name("ostia"))


def short_tmpdir() -> Path:
    # HAProxy's unix sockets live under base_path: keep paths well below the 108-byte sun_path limit.
    return Path(tempfile.mkdtemp(prefix="oagt-", dir="/tmp"))


class Agent:
    def __init__(self, workdir: Path, namespace: str = "", topology: str = "SINGLE") -> None:
        self.workdir = workdir
        self.amphora_id = str(uuid.uuid4())
        self.base_path = workdir / "amp"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = LocalCertificateDriver(workdir / "ca", "pass")
        server = self.ca.issue_server_cert(self.amphora_id)
        client = self.ca.issue_client_cert("ostia-controller")
        files = {"server.pem": server.cert_pem, "server.key": server.key_pem,
                 "ca.pem": self.ca.ca_bundle(), "client.pem": client.cert_pem, "client.key": client.key_pem}
        for name, data in files.items():
            (workdir / name).write_bytes(data)
        self.conf = workdir / "agent.conf"
        self.conf.write_text(
            "[amphora_agent]\n"
            f"amphora_id = {self.amphora_id}\nbase_path = {self.base_path}\n"
            f"bind_host = 127.0.0.1\nbind_port = {self.port}\n"
            f"agent_server_cert = {workdir / 'server.pem'}\nagent_server_key = {workdir / 'server.key'}\n"
            f"agent_server_ca = {workdir / 'ca.pem'}\nnetwork_namespace = {namespace}\n"
            f"loadbalancer_topology = {topology}\n")
        self.log = workdir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, verify=self.client_ssl(), timeout=30)

    def client_ssl(self) -> Any:
        w = self.workdir
        return client_context(w / "client.pem", w / "client.key", w / "ca.pem")

    # -- process -------------------------------------------------------------------------------------------

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([OSTIA, "agent", "--config-file", str(self.conf)], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited ({self.proc.returncode}):\n{self.log.read_text()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                if self.get("/").status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"agent did not come up:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def cleanup_processes(self) -> None:
        """Stop what the agent started and left running (it never stops HAProxy/keepalived on exit)."""
        from ostia.agent.haproxy import HaproxyManager
        from ostia.agent.keepalived import Keepalived
        from ostia.agent.settings import AgentSettings

        settings = AgentSettings(self.amphora_id, self.base_path, Path(), Path(), Path())
        manager = HaproxyManager(settings)
        for lb_dir in self.base_path.glob("*/haproxy.pid"):
            manager.stop(lb_dir.parent.name)
        Keepalived(settings).stop()

    # -- requests ------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # The agent's certificate names the amphora id, not 127.0.0.1: check it by SNI name.
        return self.client.request(method, path, extensions={"sni_hostname": self.amphora_id}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@contextlib.contextmanager
def started(agent: Agent) -> Iterator[Agent]:
    """Run a configured agent; afterwards stop it and every process it left (HAProxy, nginx, keepalived)."""
    try:
        agent.start()
        yield agent
    finally:
        agent.client.close()
        agent.stop()
        agent.cleanup_processes()


def running_agent(workdir: Path, namespace: str = "",
                  topology: str = "SINGLE") -> contextlib.AbstractContextManager[Agent]:
    return started(Agent(workdir, namespace, topology))


@contextlib.contextmanager
def backend_haproxy(workdir: Path, body: str = "member-1") -> Iterator[int]:
    """A tiny foreground HAProxy answering every request itself (`http-request return`) on 127.0.0.1."""
    port = free_port()
    cfg = workdir / f"backend-{port}.cfg"
    cfg.write_text("defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
                   "    timeout server 10s\n"
                   f"frontend member\n    bind 127.0.0.1:{port}\n"
                   f"    http-request return status 200 content-type text/plain string {body}\n")
    log = workdir / f"backend-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text())
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            time.sleep(0.05)
        yield port
    finally:
        stop(proc)


def lb_config(agent: Agent, lb_id: str, port: int, backend_port: int, generation: str = "1",
              bind: str = "127.0.0.1") -> str:
    base = agent.base_path
    return (f"global\n    stats socket {base}/{lb_id}.sock mode 600 level admin expose-fd listeners\n"
            f"    server-state-file {base}/{lb_id}/servers-state\n    maxconn 1000\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n"
            f"frontend fe\n    bind {bind}:{port}\n    http-response set-header X-Generation {generation}\n"
            "    default_backend be\n"
            f"backend be\n    load-server-state-from-file global\n"
            f"    server m1 127.0.0.1:{backend_port} check inter 1s\n")


def master_pid(agent: Agent, lb_id: str) -> int:
    return int((agent.base_path / lb_id / "haproxy.pid").read_text().split()[0])
