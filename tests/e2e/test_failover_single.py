"""Automatic failover of a SINGLE load balancer on the whole stack (root): `ostia up` with the netns network
driver, local amphorae whose agents send real heartbeats to the health manager inside `ostia up`, an HTTP
listener with real members in namespaces of their own and traffic from a client namespace every 50 ms.

Every process of the amphora (agent, HAProxy master and workers) is SIGKILLed: its heartbeats stop, the scanner
finds it stale after heartbeat_timeout, the worker claims the spare amphora, deletes the dead one (its namespace
and VIP NIC go), plugs the VIP into the spare and pushes the configuration, and the VIP serves again. The
failover timeline and `ostia diagnose` tell the story. Times are printed (pytest -s): the control plane restores
service ~0.7 s after the decision; what the client sees is longer, bounded by its ARP cache (see below).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ostia import conf as conf_mod
from ostia import netns, process
from ostia.db.engine import Database, default_url, make_engine
from tests.e2e.conftest import OSTIA, OstiaServer, ostia_up
from tests.support.backends import Member

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the netns network driver needs root")
PROJECT = "p-failover"
TIMEOUT = 3.0  # heartbeat_timeout: short, so the test is quick (Octavia: 60 s)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Probe:
    """GET http://<vip>:<port>/ every 50 ms from the client namespace: (time, member name or None)."""

    def __init__(self, client_ns: str, vip: str, port: int, limit: float = 120.0) -> None:
        self.ns, self.vip, self.port, self.limit = client_ns, vip, port, limit
        self.results: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        netns.join(self.ns)  # this thread only
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.results.append((time.monotonic(), self._get()))
            self._stop.wait(0.05)

    def _get(self) -> str | None:
        try:
            with socket.create_connection((self.vip, self.port), timeout=0.3) as sock:
                sock.settimeout(0.5)
                sock.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return None
        head, _, body = data.partition(b"\r\n\r\n")
        if head.split(b" ")[1:2] != [b"200"]:
            return None
        try:
            return str(json.loads(body)["member"])
        except (ValueError, KeyError):
            return None

    def ok_since(self, t: float) -> int:
        return sum(1 for at, who in list(self.results) if at >= t and who)


def _wait(cond: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _amphora_processes(amp_dir: Path) -> list[int]:
    """The agent and every HAProxy process of one local amphora, found from its pid files."""
    pids = []
    for pid_file in [amp_dir / "agent.pid", *amp_dir.rglob("haproxy.pid")]:
        pid = process.read_pid(pid_file)
        if pid is not None and process.alive(pid):
            pids.append(pid)
    for pid in list(pids):  # HAProxy workers are the master's children
        with contextlib.suppress(OSError):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, timeout=10, check=False)
    return {n["name"] for n in json.loads(out.stdout or "[]")}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[OstiaServer, Any]]:
    from ostia.drivers.network.netns import NetnsNetworkDriver

    net = random.randrange(10, 250)
    prefix = f"ostiat{uuid.uuid4().hex[:6]}"
    networks = f"public:public-subnet:198.18.{net}.0/24,private:private-subnet:198.19.{net}.0/24"
    settings = ["controller_worker.network_driver=netns", f"networking.netns_prefix={prefix}",
                f"networking.networks={networks}", f"local_compute.mgmt_cidr=127.{net}.3.0/24",
                "house_keeping.spare_amphora_pool_size=1", f"health_manager.bind_port={_free_udp_port()}",
                "health_manager.heartbeat_interval=0.5", f"health_manager.heartbeat_timeout={TIMEOUT}",
                "health_manager.health_check_interval=0.5"]
    conf = conf_mod.load([], {"networking": {"netns_prefix": prefix, "networks": networks}})
    with ostia_up(tmp_path, *settings) as server:
        db = Database(make_engine(default_url(str(tmp_path))))
        hosts = NetnsNetworkDriver(conf, db)
        try:
            yield server, hosts
        finally:
            hosts.teardown()
            db.engine.dispose()


def _live_amphorae(server: OstiaServer, lb_id: str) -> list[dict[str, Any]]:
    amps = server.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]
    return [a for a in amps if a["status"] == "ALLOCATED"]


def _timeline(server: OstiaServer, lb_id: str) -> list[dict[str, Any]]:
    return list(server.get_json(f"/v2/lbaas/loadbalancers/{lb_id}/failover_timeline")["failover_timeline"])


def test_killed_single_amphora_is_replaced_by_the_spare_and_the_vip_serves_again(
        stack: tuple[OstiaServer, Any]) -> None:
    server, hosts = stack
    subnets = {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}
    client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
    members = []
    try:
        for name in ("m1", "m2"):
            ns, address = hosts.attach_host(name, subnets["private-subnet"])
            members.append(Member(name, address, netns=ns))
        status, reply = server.http("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {
            "name": "single", "vip_subnet_id": subnets["public-subnet"],
            "listeners": [{"protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "pool",
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                    {"address": m.address, "protocol_port": m.port, "subnet_id": subnets["private-subnet"]}
                    for m in members]}}]}}, project=PROJECT)
        assert status == 201, reply
        lb = server.wait_for(f"/v2/lbaas/loadbalancers/{reply['loadbalancer']['id']}", "loadbalancer", timeout=120)
        vip = lb["vip_address"]
        (old,) = _live_amphorae(server, lb["id"])
        old_ns = hosts.namespace_for(old["id"])
        # The pool refills after the create claimed the booted spare: the failover can claim the next one.
        _wait(lambda: any(a["status"] == "READY" for a in server.get_json("/v2/octavia/amphorae")["amphorae"]),
              60, "a READY spare amphora")
        # The health manager inside `ostia up` hears the amphora before anything is killed.
        _wait(lambda: server.get_json(f"/v2/lbaas/loadbalancers/{lb['id']}")["loadbalancer"][
            "operating_status"] == "ONLINE", 30, "heartbeats to make the load balancer ONLINE")

        with Probe(client_ns, vip, 8080) as probe:
            _wait(lambda: probe.ok_since(0) >= 4, 15, "traffic through the amphora")
            assert {who for _, who in probe.results if who} == {"m1", "m2"}
            pids = _amphora_processes(server.state_dir / "amphorae" / old["id"])
            assert len(pids) >= 3, pids  # agent, HAProxy master and worker
            fault_at = time.monotonic()
            killed_wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                # The replacement's VIP NIC has another MAC: its agent's gratuitous ARPs move the client over
                # (without them the client would wait for its neighbour entry to age out, 30-55 s).
                _wait(lambda: probe.ok_since(fault_at + 0.2) >= 3, 30, "the VIP to serve again")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{server.log_tail()}") from None
            recovered = next(t for t, who in probe.results if t >= fault_at + 0.2 and who)
            time.sleep(1.0)
        last_before = max(t for t, who in probe.results if t < fault_at and who)
        neighbour = subprocess.run(["ip", "-n", client_ns, "neigh", "show", vip], capture_output=True, text=True,
                                   timeout=10, check=False).stdout.split()
        failures_after = [t for t, who in probe.results if t > recovered + 0.5 and not who]
        assert not failures_after, f"{len(failures_after)} failed requests after traffic came back"
        assert {who for t, who in probe.results if t > recovered and who} == {"m1", "m2"}

        lb_after = server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=60)
        assert lb_after["vip_address"] == vip
        (new,) = _live_amphorae(server, lb["id"])
        assert new["id"] != old["id"] and new["role"] == "STANDALONE" and new["ha_ip"] == vip
        new_mac = subprocess.run(["ip", "-n", hosts.namespace_for(new["id"]), "-j", "link", "show", "dev", "eth1"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout
        assert json.loads(new_mac)[0]["address"] in neighbour  # the client reached the replacement's NIC
        assert server.http("GET", f"/v2/octavia/amphorae/{old['id']}")[0] == 404  # DELETED
        assert old_ns not in _namespaces()  # the dead amphora's VIP NIC went with its namespace

        _wait(lambda: [e["stage"] for e in _timeline(server, lb["id"])] == [
            "DETECTED", "DECIDED", "TRAFFIC_RESTORED", "REDUNDANCY_RESTORED"], 30, "the full timeline")
        events = _timeline(server, lb["id"])
        at = {e["stage"]: dt.datetime.fromisoformat(e["at"]) for e in events}
        detected = (at["DETECTED"] - killed_wall).total_seconds()
        assert TIMEOUT - 0.5 <= detected <= TIMEOUT + 4, detected
        assert events[2]["amphora_id"] == new["id"]
        print(f"\nSINGLE amphora SIGKILLed: detected after {detected:.2f} s (heartbeat_timeout {TIMEOUT:g} s), "
              f"decided +{(at['DECIDED'] - at['DETECTED']).total_seconds():.3f} s, "
              f"traffic restored +{(at['TRAFFIC_RESTORED'] - at['DECIDED']).total_seconds():.2f} s, "
              f"redundancy restored +{(at['REDUNDANCY_RESTORED'] - at['DECIDED']).total_seconds():.2f} s; "
              f"client outage {recovered - last_before:.2f} s")

        # The operator's view of the same story.
        out = subprocess.run([str(OSTIA), "--state-dir", str(server.state_dir), "diagnose", lb["id"]],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert "REDUNDANCY_RESTORED" in out.stdout and new["id"] in out.stdout

        status, _ = server.http("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", project=PROJECT)
        assert status == 204
        server.wait_gone(f"/v2/lbaas/loadbalancers/{lb['id']}")
    finally:
        for m in members:
            m.stop()
