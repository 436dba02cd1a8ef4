"""ACTIVE_STANDBY on the whole stack (root): `ostia up` with the netns network driver, a flavor choosing the
topology, an HTTP listener with real members in namespaces of their own, traffic from a client namespace every
50 ms, and the MASTER amphora's keepalived and HAProxy SIGKILLed: the BACKUP takes the VIP and serves.
Then an LB failover rebuilds both amphorae and keepalived again. Outages are printed (pytest -s).
"""

from __future__ import annotations

import contextlib
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
from tests.e2e.conftest import OstiaServer, ostia_up
from tests.support.backends import Member

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the netns network driver and keepalived need root")
PROJECT = "p-ha"


class Probe:
    """GET http://<vip>:<port>/ every 50 ms from the client namespace: (time, member name or None)."""

    def __init__(self, client_ns: str, vip: str, port: int) -> None:
        self.ns, self.vip, self.port = client_ns, vip, port
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
        deadline = time.monotonic() + 90
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.results.append((time.monotonic(), self._get()))
            self._stop.wait(0.05)

    def _get(self) -> str | None:
        try:
            with socket.create_connection((self.vip, self.port), timeout=0.3) as sock:
                sock.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return None
        head, _, body = data.partition(b"\r\n\r\n")
        if head.split(b" ")[1:2] != [b"200"]:
            return None
        return str(json.loads(body)["member"])

    def ok_since(self, t: float) -> int:
        return sum(1 for at, who in self.results if at >= t and who)


def _addresses(ns: str) -> set[str]:
    out = subprocess.run(["ip", "-n", ns, "-j", "addr", "show", "dev", "eth1"], capture_output=True, text=True,
                         timeout=10, check=False).stdout
    return {a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])}


def _wait(cond: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _pids(amp_dir: Path) -> list[int]:
    """keepalived (main + VRRP child) and every HAProxy process of the amphora."""
    pids = []
    for pid_file in [*amp_dir.rglob("haproxy.pid"), *amp_dir.rglob("keepalived.pid"), *amp_dir.rglob("vrrp.pid")]:
        pid = process.read_pid(pid_file)
        if pid is not None:
            pids.append(pid)
    for pid in list(pids):  # HAProxy workers are the master's children
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pids += [int(c) for c in children]
    return pids


def _diagnostics(server: OstiaServer, amps: dict[str, dict[str, Any]]) -> str:
    out = []
    for role, amp in amps.items():
        vrrp = server.state_dir / "amphorae" / amp["id"]
        for f in sorted(vrrp.rglob("keepalived.*")):
            out.append(f"--- {role} {f.name}\n{f.read_text(errors='replace')[-3000:]}")
    return "\n".join(out) + "\n--- ostia up\n" + server.log_tail(3000)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[OstiaServer, Any, str]]:
    from ostia.drivers.network.netns import NetnsNetworkDriver

    net = random.randrange(10, 250)
    prefix = f"ostiat{uuid.uuid4().hex[:6]}"
    networks = f"public:public-subnet:198.18.{net}.0/24,private:private-subnet:198.19.{net}.0/24"
    settings = ["controller_worker.network_driver=netns", f"networking.netns_prefix={prefix}",
                f"networking.networks={networks}", f"local_compute.mgmt_cidr=127.{net}.3.0/24",
                "house_keeping.spare_amphora_pool_size=0"]
    conf = conf_mod.load([], {"networking": {"netns_prefix": prefix, "networks": networks}})
    with ostia_up(tmp_path, *settings) as server:
        db = Database(make_engine(default_url(str(tmp_path))))
        hosts = NetnsNetworkDriver(conf, db)
        try:
            yield server, hosts, prefix
        finally:
            hosts.teardown()
            db.engine.dispose()


def _amphorae(server: OstiaServer, lb_id: str) -> dict[str, dict[str, Any]]:
    amps = server.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]
    return {a["role"]: a for a in amps if a["status"] == "ALLOCATED"}


def test_backup_serves_when_the_master_amphora_dies(stack: tuple[OstiaServer, Any, str]) -> None:
    server, hosts, _ = stack
    subnets = {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}
    client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
    members = []
    try:
        for name in ("m1", "m2"):
            ns, address = hosts.attach_host(name, subnets["private-subnet"])
            members.append(Member(name, address, netns=ns))
        status, fp = server.http("POST", "/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": "ha", "provider_name": "amphora", "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}})
        assert status == 201, fp
        status, flavor = server.http("POST", "/v2/lbaas/flavors", {"flavor": {
            "name": "ha", "flavor_profile_id": fp["flavorprofile"]["id"]}})
        assert status == 201, flavor
        started = time.monotonic()
        status, reply = server.http("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {
            "name": "ha", "vip_subnet_id": subnets["public-subnet"], "flavor_id": flavor["flavor"]["id"],
            "listeners": [{"protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "pool",
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                    {"address": m.address, "protocol_port": m.port, "subnet_id": subnets["private-subnet"]}
                    for m in members]}}]}}, project=PROJECT)
        assert status == 201, reply
        lb = server.wait_for(f"/v2/lbaas/loadbalancers/{reply['loadbalancer']['id']}", "loadbalancer", timeout=120)
        print(f"\nACTIVE_STANDBY load balancer ACTIVE after {time.monotonic() - started:.1f} s")
        vip = lb["vip_address"]
        amps = _amphorae(server, lb["id"])
        assert set(amps) == {"MASTER", "BACKUP"}
        ns = {role: hosts.namespace_for(a["id"]) for role, a in amps.items()}
        try:
            _wait(lambda: vip in _addresses(ns["MASTER"]), 15, "the MASTER to hold the VIP")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_diagnostics(server, amps)}") from None
        assert vip not in _addresses(ns["BACKUP"])

        with Probe(client_ns, vip, 8080) as probe:
            _wait(lambda: probe.ok_since(0) >= 4, 10, "traffic through the MASTER")
            assert {who for _, who in probe.results if who} == {"m1", "m2"}
            fault_at = time.monotonic()
            pids = _pids(server.state_dir / "amphorae" / amps["MASTER"]["id"])
            assert len(pids) >= 4, pids  # keepalived x2, HAProxy master + worker
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _wait(lambda: vip in _addresses(ns["BACKUP"]), 15, "the BACKUP to take the VIP")
            _wait(lambda: probe.ok_since(fault_at) >= 1, 15, "traffic through the BACKUP")
            recovered = next(t for t, who in probe.results if t >= fault_at and who)
            time.sleep(2)
        failed_after = [t for t, who in probe.results if t > recovered + 0.5 and not who]
        outage = recovered - max(t for t, who in probe.results if t < fault_at and who)
        print(f"MASTER's keepalived and HAProxy SIGKILLed: BACKUP serves after {outage:.2f} s")
        assert outage < 5.0
        assert not failed_after, f"{len(failed_after)} failures after the takeover"

        # LB failover rebuilds both amphorae and their keepalived; the VIP serves again afterwards.
        status, body = server.http("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}/failover", project=PROJECT)
        assert status == 202, body
        started = time.monotonic()
        server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=120)
        new = _amphorae(server, lb["id"])
        assert set(new) == {"MASTER", "BACKUP"} and not {a["id"] for a in new.values()} & {
            a["id"] for a in amps.values()}
        new_ns = [hosts.namespace_for(a["id"]) for a in new.values()]
        _wait(lambda: sum(vip in _addresses(n) for n in new_ns) == 1, 15, "one new amphora to hold the VIP")
        print(f"LB failover: ACTIVE after {time.monotonic() - started:.1f} s")
        with Probe(client_ns, vip, 8080) as probe:
            _wait(lambda: probe.ok_since(0) >= 4, 10, "traffic after the LB failover")
        status, _ = server.http("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", project=PROJECT)
        assert status == 204
        server.wait_gone(f"/v2/lbaas/loadbalancers/{lb['id']}")
    finally:
        for m in members:
            m.stop()
