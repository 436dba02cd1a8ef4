"""The local compute driver with real `ostia agent` daemons, real HAProxy and mutual TLS on loopback."""

from __future__ import annotations

import concurrent.futures
import os
import random
import signal
import ssl
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostia import process
from ostia.db.engine import Database, make_engine
from ostia.db.models import Amphora, Base, LoadBalancer
from ostia.drivers.certificates import tls
from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.compute import procs
from ostia.drivers.compute.local import LocalComputeDriver
from tests.support.processes import free_port

PASS = "test-passphrase"
AGENT_UP_TIMEOUT = 30.0  # a cold Python start of the agent on 2 busy cores


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Env:
    """CA, database and driver settings shared by the drivers one test creates (as a restarted controller)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = LocalCertificateDriver(root / "ca", PASS)
        self.ca.ensure_ca()
        self.client_cert = self.ca.client_cert_files()
        self.db = Database(make_engine(f"sqlite:///{root / 'ostia.sqlite'}"))
        Base.metadata.create_all(self.db.engine)
        # A /24 of its own inside the default 127.3.0.0/16, so concurrent test runs rarely meet.
        self.mgmt_cidr = f"127.3.{random.randint(100, 250)}.0/24"
        self.amphora_dir = root / "amphorae"
        self.drivers: list[LocalComputeDriver] = []

    def driver(self, **kw: Any) -> LocalComputeDriver:
        d = LocalComputeDriver(self.amphora_dir, self.ca, db=self.db, mgmt_cidr=self.mgmt_cidr,
                               stop_timeout=5.0, **kw)
        self.drivers.append(d)
        return d

    def client(self) -> httpx.Client:
        ctx = tls.client_context(*self.client_cert, self.ca.ca_dir / "ca.pem")
        return httpx.Client(verify=ctx, timeout=5.0)

    def call(self, amphora_id: str, address: str, method: str, path: str, **kw: Any) -> httpx.Response:
        with self.client() as c:
            return c.request(method, f"https://{address}:9443{path}", extensions={"sni_hostname": amphora_id}, **kw)

    def wait_agent(self, amphora_id: str, address: str, timeout: float = AGENT_UP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                response = self.call(amphora_id, address, "GET", "/")
                assert response.status_code == 200, response.text
                assert response.json() == {"api_version": "1.0"}
                return
            except httpx.TransportError as exc:
                last = exc
                time.sleep(0.2)
        log = self.amphora_dir / amphora_id / "agent.log"
        tail = log.read_text()[-3000:] if log.exists() else "(no log)"
        raise AssertionError(f"agent {amphora_id} at {address} never answered ({last}):\n{tail}")

    def cleanup(self) -> None:
        if self.amphora_dir.exists():
            for entry in self.amphora_dir.iterdir():
                if entry.is_dir():
                    self.driver().delete(entry.name)
        # Safety net for a test that failed half-way: nothing started under this root may survive it.
        process.terminate(procs.pids_mentioning(str(self.root)), 5.0)
        self.db.engine.dispose()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    # pytest's long tmp_path on purpose: HAProxy's sockets under <amphora dir>/<lb id>/ would exceed its
    # 97-byte limit, so this also proves the agents get their short base_path link.
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()


def test_build_starts_an_agent_answering_mtls_with_private_files_and_is_idempotent(env: Env) -> None:
    driver = env.driver()
    amp = str(uuid.uuid4())
    instance = driver.build(amp, str(uuid.uuid4()))
    assert instance.compute_id == amp
    assert instance.lb_network_ip is not None and instance.lb_network_ip.startswith(env.mgmt_cidr[:-4])
    env.wait_agent(amp, instance.lb_network_ip)
    assert driver.status(amp) == "ACTIVE"

    directory = env.amphora_dir / amp
    # Created 0700; the agent opens it to 0755 so HAProxy's `nobody` workers reach its ping wrapper.
    assert _mode(directory) & 0o022 == 0 and _mode(env.amphora_dir) == 0o711
    for name in ("agent.conf", "tls/server.pem", "tls/server.key", "tls/client_ca.pem"):
        assert _mode(directory / name) == 0o600, name
    assert _mode(directory / "tls") == 0o700  # the key's directory stays closed while the amphora's is open
    pid = process.read_pid(directory / "agent.pid")
    assert pid is not None and process.alive(pid)

    assert driver.build(amp, None) == instance
    assert process.read_pid(directory / "agent.pid") == pid

    # Without a client certificate the agent refuses the handshake.
    with httpx.Client(verify=tls.client_context(*env.client_cert, env.ca.ca_dir / "ca.pem")) as ok:
        assert ok.get(f"https://{instance.lb_network_ip}:9443/",
                      extensions={"sni_hostname": amp}).status_code == 200
    bare = ssl.create_default_context(cafile=str(env.ca.ca_dir / "ca.pem"))
    with httpx.Client(verify=bare) as anonymous, pytest.raises(httpx.TransportError):
        anonymous.get(f"https://{instance.lb_network_ip}:9443/", extensions={"sni_hostname": amp})


_CONTROLLER = textwrap.dedent("""
    import sys
    from ostia.db.engine import Database, make_engine
    from ostia.drivers.certificates.local_ca import LocalCertificateDriver
    from ostia.drivers.compute.local import LocalComputeDriver
    root, cidr, amp = sys.argv[1:]
    ca = LocalCertificateDriver(root + "/ca", "%s")
    db = Database(make_engine("sqlite:///" + root + "/ostia.sqlite"))
    instance = LocalComputeDriver(root + "/amphorae", ca, db=db, mgmt_cidr=cidr).build(amp, None)
    print(instance.lb_network_ip, flush=True)
    sys.stdin.read()  # stays alive until killed
""") % PASS


def test_agent_outlives_a_killed_controller_and_reattach_restarts_a_killed_agent(env: Env) -> None:
    amp = str(uuid.uuid4())
    controller = subprocess.Popen([sys.executable, "-c", _CONTROLLER, str(env.root), env.mgmt_cidr, amp],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
    try:
        assert controller.stdout is not None
        address = controller.stdout.readline().decode().strip()
        assert address, "the controller did not build the amphora"
        pid = process.read_pid(env.amphora_dir / amp / "agent.pid")
        assert pid is not None
        # Own session and process group: a terminal's Ctrl-C on the controller's group never reaches it.
        assert os.getsid(pid) == pid != os.getsid(controller.pid)
        assert os.getpgid(pid) != os.getpgid(controller.pid)
        controller.send_signal(signal.SIGKILL)
        controller.wait(10)
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait(10)
        if controller.stdin:
            controller.stdin.close()
        if controller.stdout:
            controller.stdout.close()
    env.wait_agent(amp, address)
    assert process.alive(pid)

    driver = env.driver()  # the restarted controller
    assert driver.status(amp) == "ACTIVE"
    lb, port = str(uuid.uuid4()), free_port()
    _serve_tiny(env, amp, address, lb, port)
    haproxy_pid = process.read_pid(env.amphora_dir / amp / lb / "haproxy.pid")
    assert haproxy_pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.status(amp) == "ERROR"

    driver.reattach([(amp, amp)])
    new_pid = process.read_pid(env.amphora_dir / amp / "agent.pid")
    assert new_pid is not None and new_pid != pid
    env.wait_agent(amp, address)
    assert driver.status(amp) == "ACTIVE"
    # HAProxy served throughout and the new agent adopted it: same master, no second one.
    assert process.alive(haproxy_pid)
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "tiny"
    assert env.call(amp, address, "PUT", f"/1.0/loadbalancer/{lb}/start").status_code == 202
    assert process.read_pid(env.amphora_dir / amp / lb / "haproxy.pid") == haproxy_pid
    driver.reattach([(amp, amp)])  # running: left alone
    assert process.read_pid(env.amphora_dir / amp / "agent.pid") == new_pid


def test_reattach_upgrades_an_amphora_made_before_the_tls_directory(env: Env) -> None:
    """An amphora whose files and agent.conf predate <amphora>/tls/ (server.pem, server.key, client_ca.pem in the
    amphora directory): reattach moves the files and points agent.conf at them, so its agent starts again."""
    amp, driver = str(uuid.uuid4()), env.driver()
    address = driver.build(amp, None).lb_network_ip
    assert address is not None
    env.wait_agent(amp, address)
    directory = env.amphora_dir / amp
    pid = process.read_pid(directory / "agent.pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for name in ("server.pem", "server.key", "client_ca.pem"):  # the layout of the previous release
        os.replace(directory / "tls" / name, directory / name)
    conf = directory / "agent.conf"
    conf.write_text(conf.read_text().replace(f"{directory}/tls/", f"{directory}/"))

    driver.reattach([(amp, amp)])
    env.wait_agent(amp, address)
    assert "/tls/server.pem" in conf.read_text() and (directory / "tls" / "server.key").exists()
    assert not (directory / "server.key").exists()


def _tiny_haproxy_cfg(port: int) -> str:
    return textwrap.dedent(f"""\
        global
            maxconn 100
        defaults
            mode http
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend tiny
            bind 127.0.0.1:{port}
            http-request return status 200 content-type text/plain string tiny
        """)


def _serve_tiny(env: Env, amp: str, address: str, lb: str, port: int) -> None:
    put = env.call(amp, address, "PUT", f"/1.0/loadbalancer/{amp}/{lb}/haproxy", content=_tiny_haproxy_cfg(port))
    assert put.status_code == 202, put.text
    start = env.call(amp, address, "PUT", f"/1.0/loadbalancer/{lb}/start")
    assert start.status_code == 202, start.text


def test_delete_stops_the_agent_and_the_haproxy_it_started_and_removes_the_directory(env: Env) -> None:
    driver = env.driver()
    amp, lb = str(uuid.uuid4()), str(uuid.uuid4())
    address = driver.build(amp, lb).lb_network_ip
    assert address is not None
    env.wait_agent(amp, address)
    port = free_port()
    _serve_tiny(env, amp, address, lb, port)
    haproxy_pid = process.read_pid(env.amphora_dir / amp / lb / "haproxy.pid")
    assert haproxy_pid is not None and process.alive(haproxy_pid)
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "tiny"
    agent_pid = process.read_pid(env.amphora_dir / amp / "agent.pid")
    assert agent_pid is not None
    link = driver.base_path(amp)
    assert link.resolve() == (env.amphora_dir / amp).resolve()
    assert len(str(link / lb / "master.sock")) <= 97 < len(str(env.amphora_dir / amp / lb / "master.sock"))

    driver.delete(amp)
    assert not link.exists() and not link.is_symlink()
    assert not process.alive(agent_pid)
    assert not process.alive(haproxy_pid)
    assert not procs.pids_mentioning(str(env.amphora_dir / amp))
    assert not (env.amphora_dir / amp).exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert driver.status(amp) == "DELETED"
    driver.delete(amp)  # twice: fine
    driver.delete(str(uuid.uuid4()))  # never built: fine


def test_addresses_skip_live_database_records_and_stay_unique_under_concurrent_builds(env: Env) -> None:
    driver = env.driver()
    hosts = [f"{env.mgmt_cidr[:-4]}{n}" for n in (1, 2, 3)]
    lb_id = str(uuid.uuid4())
    with env.db.session() as session:  # .1 belongs to a live amphora (elsewhere), .2 to a deleted one
        session.add(Amphora(id=str(uuid.uuid4()), status="ALLOCATED", lb_network_ip=hosts[0]))
        session.add(Amphora(id=str(uuid.uuid4()), status="DELETED", lb_network_ip=hosts[1]))
        session.add(LoadBalancer(id=lb_id, provisioning_status="PENDING_CREATE", operating_status="OFFLINE",
                                 topology="ACTIVE_STANDBY"))
    amps = [str(uuid.uuid4()) for _ in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda a: driver.build(a, lb_id if a == amps[0] else None), amps))
    addresses = sorted(str(b.lb_network_ip) for b in built)
    assert addresses == sorted(hosts[1:])
    # The agent learns its load balancer's topology (a flavor may differ from the configured default).
    assert "loadbalancer_topology = ACTIVE_STANDBY\n" in (env.amphora_dir / amps[0] / "agent.conf").read_text()
    assert "loadbalancer_topology = SINGLE\n" in (env.amphora_dir / amps[1] / "agent.conf").read_text()
    for amp, instance in zip(amps, built, strict=True):
        assert instance.lb_network_ip is not None
        env.wait_agent(amp, instance.lb_network_ip)


def test_prepare_namespace_names_the_namespace_in_the_agent_config(env: Env) -> None:
    namespace = f"ostia-t-{uuid.uuid4().hex[:8]}"
    calls: list[str] = []

    def prepare(amphora_id: str) -> str:
        calls.append(amphora_id)
        subprocess.run(["ip", "netns", "add", namespace], check=False, capture_output=True)
        return namespace

    try:
        driver = env.driver(prepare_namespace=prepare)
        amp = str(uuid.uuid4())
        address = driver.build(amp, None).lb_network_ip
        assert address is not None
        assert calls == [amp]
        assert f"network_namespace = {namespace}\n" in (env.amphora_dir / amp / "agent.conf").read_text()
        env.wait_agent(amp, address)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)
