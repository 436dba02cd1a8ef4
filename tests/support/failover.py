"""Failover on the whole stack (root): `ostia up` with the netns network driver, a client probing the VIP, and
the amphora processes to kill. Shared by tests/e2e/test_failover_single.py, tests/e2e/test_active_standby.py
and bench/failover.py.

    with netns_stack(tmp_path, "house_keeping.spare_amphora_pool_size=1") as (server, hosts):
        client_ns, _ = hosts.attach_host("client", subnet_id)
        with Probe(client_ns, vip, 8080) as probe:
            for pid in amphora_pids(server.state_dir / "amphorae" / amp_id, agent=True, keepalived=True):
                os.kill(pid, signal.SIGKILL)
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ostia import conf as conf_mod
from ostia import netns, process
from ostia.db.engine import Database, default_url, make_engine
from tests.e2e.conftest import OstiaServer, ostia_up
from tests.support.backends import Member
from tests.support.processes import free_udp_port


def member_of(body: bytes) -> str | None:
    """Who answered, for backends of tests.support.backends: the JSON body's "member"."""
    try:
        return str(json.loads(body)["member"])
    except (ValueError, KeyError):
        return None


class Probe:
    """GET http://<vip>:<port>/ every 50 ms from the client namespace, for at most `limit` seconds:
    `results` holds (monotonic time, who answered or None for a failed request); `who` reads the answerer
    from a 200 response's body (default: the member name of tests.support.backends)."""

    def __init__(self, client_ns: str, vip: str, port: int, limit: float = 120.0,
                 who: Callable[[bytes], str | None] = member_of) -> None:
        self.ns, self.vip, self.port, self.limit, self.who = client_ns, vip, port, limit, who
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
        return self.who(body)

    def ok_since(self, t: float) -> int:
        return sum(1 for at, who in list(self.results) if at >= t and who)

    def failures_between(self, start: float, end: float = float("inf")) -> list[float]:
        return [at for at, who in list(self.results) if start <= at <= end and not who]

    def served_by(self, who: str, after: float) -> float | None:
        """When `who` first answered at or after `after` (None: not yet)."""
        return next((at for at, w in list(self.results) if at >= after and w == who), None)

    def outage(self, fault_at: float) -> tuple[float, float]:
        """(last success before the fault, first success after it): the client's view of the outage."""
        results = list(self.results)
        before = max(at for at, who in results if at < fault_at and who)
        after = next(at for at, who in results if at >= fault_at and who)
        return before, after


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> float:
    """Poll `cond` every 50 ms until it is truthy; the seconds it took. Bounded by `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def amphora_pids(amp_dir: Path, agent: bool = True, keepalived: bool = False) -> list[int]:
    """The live processes of one local amphora, from its pid files: every HAProxy (master and, as its
    children, the workers), with `agent` its agent, with `keepalived` keepalived's main and VRRP processes."""
    files = list(amp_dir.rglob("haproxy.pid"))
    if agent:
        files.insert(0, amp_dir / "agent.pid")
    if keepalived:
        files += [*amp_dir.rglob("keepalived.pid"), *amp_dir.rglob("vrrp.pid")]
    pids: list[int] = []
    for pid_file in files:
        pid = process.read_pid(pid_file)
        if pid is not None and process.alive(pid) and pid not in pids:
            pids.append(pid)
    for pid in list(pids):  # HAProxy workers are the master's children
        with contextlib.suppress(OSError):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                     if int(c) not in pids]
    return pids


def kill_all(pids: list[int]) -> None:
    """SIGKILL every one of `pids` (one already gone is fine)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def keepalived_running(amp_dir: Path) -> bool:
    return any(process.alive(pid) for f in amp_dir.rglob("keepalived.pid") if (pid := process.read_pid(f)))


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, timeout=10, check=False)
    return {n["name"] for n in json.loads(out.stdout or "[]")}


def addresses(ns: str, dev: str = "eth1") -> set[str]:
    """The addresses on `dev` in namespace `ns` (empty when either is gone)."""
    out = subprocess.run(["ip", "-n", ns, "-j", "addr", "show", "dev", dev], capture_output=True, text=True,
                         timeout=10, check=False).stdout
    return {a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])}


@contextlib.contextmanager
def netns_stack(state_dir: Path, *settings: str, extra_subnets: tuple[str, ...] = ()
                ) -> Iterator[tuple[OstiaServer, Any]]:
    """`ostia up` on the netns network driver with networks, namespace prefix and heartbeat port of its own;
    `settings` are further `--set` overrides, `extra_subnets` further `network:subnet:cidr` entries of
    [networking] networks (e.g. a second subnet on `public` for additional VIPs). Yields the server and a
    NetnsNetworkDriver on the same state (attach_host for clients and members, namespace_for); its hosts and the
    amphorae go at the end."""
    from ostia.drivers.network.netns import NetnsNetworkDriver

    net = random.randrange(10, 250)
    prefix = f"ostiat{uuid.uuid4().hex[:6]}"
    networks = ",".join([f"public:public-subnet:198.18.{net}.0/24", f"private:private-subnet:198.19.{net}.0/24",
                         *extra_subnets])
    base = ["controller_worker.network_driver=netns", f"networking.netns_prefix={prefix}",
            f"networking.networks={networks}", f"local_compute.mgmt_cidr=127.{net}.3.0/24",
            f"health_manager.bind_port={free_udp_port()}"]
    conf = conf_mod.load([], {"networking": {"netns_prefix": prefix, "networks": networks}})
    with ostia_up(state_dir, *base, *settings) as server:
        db = Database(make_engine(default_url(str(state_dir))))
        hosts = NetnsNetworkDriver(conf, db)
        try:
            yield server, hosts
        finally:
            hosts.teardown()
            db.engine.dispose()


def watched_settings(timeout: float) -> tuple[str, ...]:
    """`--set` overrides for a health manager that fails amphorae over `timeout` s after their last heartbeat
    (short, so the tests are quick; Octavia: 60 s)."""
    return ("health_manager.heartbeat_interval=0.5", f"health_manager.heartbeat_timeout={timeout}",
            "health_manager.health_check_interval=0.5")


# -- load balancers ---------------------------------------------------------------------------------------


def subnet_ids(server: OstiaServer) -> dict[str, str]:
    return {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}


def attach_members(hosts: Any, subnet_id: str, names: tuple[str, ...] = ("m1", "m2")) -> list[Member]:
    """HTTP members, each in a namespace of its own on the subnet; the caller stops them."""
    members = []
    for name in names:
        ns, address = hosts.attach_host(name, subnet_id)
        members.append(Member(name, address, netns=ns))
    return members


def ha_flavor(server: OstiaServer) -> str:
    """A flavor choosing the ACTIVE_STANDBY topology; its id."""
    status, fp = server.http("POST", "/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "ha", "provider_name": "amphora", "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}})
    assert status == 201, fp
    status, flavor = server.http("POST", "/v2/lbaas/flavors", {"flavor": {
        "name": "ha", "flavor_profile_id": fp["flavorprofile"]["id"]}})
    assert status == 201, flavor
    return str(flavor["flavor"]["id"])


def create_http_lb(server: OstiaServer, subnets: dict[str, str], members: list[Member], project: str,
                   name: str, flavor_id: str | None = None, port: int = 8080,
                   additional_vips: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """An HTTP listener on `port` with a ROUND_ROBIN pool of the members; returns the load balancer once
    ACTIVE."""
    body: dict[str, Any] = {
        "name": name, "vip_subnet_id": subnets["public-subnet"],
        "listeners": [{"protocol": "HTTP", "protocol_port": port, "default_pool": {
            "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                {"address": m.address, "protocol_port": m.port, "subnet_id": subnets["private-subnet"]}
                for m in members]}}]}
    if flavor_id:
        body["flavor_id"] = flavor_id
    if additional_vips:
        body["additional_vips"] = additional_vips
    status, reply = server.http("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": body}, project=project)
    assert status == 201, reply
    return server.wait_for(f"/v2/lbaas/loadbalancers/{reply['loadbalancer']['id']}", "loadbalancer", timeout=120)


def allocated_amphorae(server: OstiaServer, lb_id: str) -> list[dict[str, Any]]:
    amps = server.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]
    return [a for a in amps if a["status"] == "ALLOCATED"]


def delete_lb(server: OstiaServer, lb_id: str, project: str) -> None:
    """Cascade-delete the load balancer and wait until it is gone."""
    status, _ = server.http("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true", project=project)
    assert status == 204
    server.wait_gone(f"/v2/lbaas/loadbalancers/{lb_id}")


FULL_TIMELINE = ["DETECTED", "DECIDED", "TRAFFIC_RESTORED", "REDUNDANCY_RESTORED"]


def stages(server: OstiaServer, lb_id: str) -> list[str]:
    """The stages of the load balancer's failover timeline, in order."""
    return [e["stage"] for e in timeline(server, lb_id)]


def timeline(server: OstiaServer, lb_id: str) -> list[dict[str, Any]]:
    return list(server.get_json(f"/v2/lbaas/loadbalancers/{lb_id}/failover_timeline")["failover_timeline"])


def operating_status(server: OstiaServer, lb_id: str) -> str:
    return str(server.get_json(f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]["operating_status"])
