"""Whole-stack checks on real amphorae (`ostia up`, loopback network, local compute, the agent): API → worker →
agent → HAProxy/nginx → real members, for what the walk-through does not show: UDP listeners with a health
monitor, TLS termination with certificates imported by `ostia secret create`, and amphorae that keep serving
while the controller is down and are re-attached when it comes back.
"""

from __future__ import annotations

import os
import random
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OSTIA, OstiaServer, ostia_up
from tests.functional.udp_support import EchoServer, answers, udp_port, wait_for
from tests.support.backends import Member
from tests.support.pki import Pki

PROJECT = "p-features"


def settings(net: int) -> list[str]:
    return [f"networking.networks=public:public-subnet:127.{net}.1.0/24,private:private-subnet:127.{net}.2.0/24",
            f"local_compute.mgmt_cidr=127.{net}.3.0/24"]


@pytest.fixture(scope="module")
def net() -> int:
    return random.randrange(100, 250)


@pytest.fixture(scope="module")
def server(net: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OstiaServer]:
    # A heartbeat port of its own, so the health manager inside this `ostia up` hears only its amphorae.
    hm = f"health_manager.bind_port={udp_port('127.0.0.1')}"
    with ostia_up(tmp_path_factory.mktemp("ostia-features"), *settings(net), hm) as srv:
        yield srv


def subnet_ids(server: OstiaServer) -> dict[str, str]:
    return {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}


def create(server: OstiaServer, body: dict[str, Any]) -> dict[str, Any]:
    status, reply = server.http("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": body}, project=PROJECT)
    assert status == 201, reply
    lb = server.wait_lb(reply["loadbalancer"]["id"])
    # As Octavia's API, the create answer already names the VIP (reserved during the call)
    assert reply["loadbalancer"]["vip_address"] == lb["vip_address"] is not None, reply
    return lb


def delete(server: OstiaServer, lb_id: str) -> None:
    status, reply = server.http("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true", project=PROJECT)
    assert status == 204, reply
    server.wait_gone(f"/v2/lbaas/loadbalancers/{lb_id}")


def test_udp_listener_balances_and_its_monitor_takes_a_stopped_member_out(server: OstiaServer, net: int) -> None:
    port = udp_port(f"127.{net}.2.20")
    echo = [EchoServer(name, f"127.{net}.2.{20 + i}", port).start() for i, name in enumerate(("u1", "u2"))]
    subnets = subnet_ids(server)
    try:
        lb = create(server, {"name": "udp", "vip_subnet_id": subnets["public-subnet"], "listeners": [{
            "protocol": "UDP", "protocol_port": 5353, "default_pool": {"name": "pool",
                "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                "healthmonitor": {"type": "UDP-CONNECT", "delay": 3, "timeout": 1, "max_retries": 1,
                                  "max_retries_down": 1},
                "members": [{"address": e.address, "protocol_port": e.port, "subnet_id": subnets["private-subnet"]}
                            for e in echo]}}]})
        vip = lb["vip_address"]
        wait_for(lambda: set(answers(vip, 5353, 6)) == {"u1", "u2"}, timeout=10)
        echo[1].stop()  # its port now answers ICMP port-unreachable: UDP-CONNECT marks it down
        wait_for(lambda: set(answers(vip, 5353, 6)) == {"u1"}, timeout=15)
        echo[1].start()
        wait_for(lambda: set(answers(vip, 5353, 6)) == {"u1", "u2"}, timeout=15)
        delete(server, lb["id"])
        assert answers(vip, 5353, 2) == [None, None]
    finally:
        for e in echo:
            e.stop()


def _secret(server: OstiaServer, tmp: Path, name: str, pem: bytes) -> str:
    path = tmp / f"{name}.pem"
    path.write_bytes(pem)
    out = subprocess.run([str(OSTIA), "--state-dir", str(server.state_dir), "secret", "create", "--name", name,
                          "--project", PROJECT, str(path)], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def _served_cn(vip: str, port: int, sni: str, ca: Path) -> tuple[str, str]:
    """(CN of the certificate the listener presented for `sni`, the member that answered over it)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    with httpx.Client(verify=ctx, timeout=5) as client:
        resp = client.get(f"https://{vip}:{port}/", extensions={"sni_hostname": sni})
        stream = resp.extensions["network_stream"]
        cert = stream.get_extra_info("ssl_object").getpeercert()
    cn = next(v for rdn in cert["subject"] for k, v in rdn if k == "commonName")
    return cn, resp.json()["member"]


def test_terminated_https_serves_imported_certificates_by_sni(server: OstiaServer, net: int, tmp_path: Path) -> None:
    pki = Pki()
    (tmp_path / "ca.pem").write_bytes(pki.ca_pem())
    default_ref = _secret(server, tmp_path, "www", pki.bundle_pem("www.example.com"))
    sni_ref = _secret(server, tmp_path, "api", pki.bundle_pem("api.example.com"))
    member = Member("tls-m1", f"127.{net}.2.30")
    subnets = subnet_ids(server)
    try:
        lb = create(server, {"name": "tls", "vip_subnet_id": subnets["public-subnet"], "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 8443, "default_tls_container_ref": default_ref,
            "sni_container_refs": [sni_ref], "default_pool": {"name": "pool",
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": member.address, "protocol_port": member.port}]}}]})
        vip = lb["vip_address"]
        assert _served_cn(vip, 8443, "www.example.com", tmp_path / "ca.pem") == ("www.example.com", "tls-m1")
        assert _served_cn(vip, 8443, "api.example.com", tmp_path / "ca.pem") == ("api.example.com", "tls-m1")
        # A ref the project cannot read is Octavia's 400, and nothing changes.
        status, reply = server.http("POST", "/v2/lbaas/listeners", {"listener": {
            "loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS", "protocol_port": 9443,
            "default_tls_container_ref": "ostia://secrets/00000000-0000-0000-0000-000000000000"}}, project=PROJECT)
        assert status == 400 and "Could not retrieve certificate" in reply["faultstring"], reply
        delete(server, lb["id"])
    finally:
        member.stop()


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def test_amphorae_serve_while_the_controller_is_down_and_are_reattached(net: int, tmp_path: Path) -> None:
    members = [Member(f"r{i}", f"127.{net}.2.{40 + i}") for i in (1, 2)]
    try:
        with ostia_up(tmp_path, *settings(net), keep_amphorae=True) as srv:
            subnets = subnet_ids(srv)
            lb = create(srv, {"name": "keep", "vip_subnet_id": subnets["public-subnet"], "listeners": [{
                "protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "pool",
                    "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": members[0].address, "protocol_port": members[0].port}]}}]})
            url = f"http://{lb['vip_address']}:8080/"
            amps = srv.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")["amphorae"]
            amp_dir = tmp_path / "amphorae" / amps[0]["id"]
            srv.process.send_signal(signal.SIGKILL)  # the whole control plane dies at once
            srv.process.wait(10)
            old_agent = _pid(amp_dir / "agent.pid")
            haproxy_pid = _pid(next(amp_dir.rglob("haproxy.pid")))
            served = [httpx.get(url, timeout=5).json()["member"] for _ in range(20)]
            assert served == ["r1"] * 20, "the data plane serves with the controller gone"
            os.kill(old_agent, signal.SIGKILL)  # and the agent dies too; HAProxy still serves
            time.sleep(0.2)
            assert httpx.get(url, timeout=5).json()["member"] == "r1"
        with ostia_up(tmp_path, *settings(net)) as srv:  # the same state directory: re-attach
            new_agent = _pid(amp_dir / "agent.pid")
            assert new_agent != old_agent
            pool = srv.get_json(f"/v2/lbaas/pools?loadbalancer_id={lb['id']}")["pools"][0]
            status, reply = srv.http("POST", f"/v2/lbaas/pools/{pool['id']}/members", {"member": {
                "address": members[1].address, "protocol_port": members[1].port}}, project=PROJECT)
            assert status == 201, reply
            srv.wait_lb(lb["id"])
            assert {httpx.get(url, timeout=5).json()["member"] for _ in range(6)} == {"r1", "r2"}
            assert _pid(next(amp_dir.rglob("haproxy.pid"))) == haproxy_pid, "the new agent adopted HAProxy"
            delete(srv, lb["id"])
    finally:
        for m in members:
            m.stop()


def _spares(server: OstiaServer) -> list[dict[str, Any]]:
    amps = server.get_json("/v2/octavia/amphorae")["amphorae"]
    return [a for a in amps if a["status"] == "READY" and not a["loadbalancer_id"]]


def test_a_single_load_balancer_claims_a_booted_spare_and_the_pool_refills(server: OstiaServer) -> None:
    deadline = time.monotonic() + 30
    while not _spares(server):
        assert time.monotonic() < deadline, "the spare pool never filled"
        time.sleep(0.1)
    spare = _spares(server)[0]["id"]
    lb = create(server, {"name": "from-spare", "vip_subnet_id": subnet_ids(server)["public-subnet"]})
    amps = server.get_json(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")["amphorae"]
    assert [(a["id"], a["status"], a["role"]) for a in amps] == [(spare, "ALLOCATED", "STANDALONE")]
    deadline = time.monotonic() + 30
    while not _spares(server):
        assert time.monotonic() < deadline, "the spare pool was not refilled"
        time.sleep(0.1)
    assert _spares(server)[0]["id"] != spare
    delete(server, lb["id"])


def _status_tree(server: OstiaServer, lb_id: str) -> dict[str, Any]:
    return server.get_json(f"/v2/lbaas/loadbalancers/{lb_id}/status")["statuses"]["loadbalancer"]


def _statuses(tree: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    pool = tree["listeners"][0]["pools"][0]
    return tree["operating_status"], pool["operating_status"], \
        {m["address"]: m["operating_status"] for m in pool["members"]}


def _until(server: OstiaServer, lb_id: str, want: tuple[str, str, dict[str, str]], timeout: float) -> float:
    start, seen = time.monotonic(), None
    while time.monotonic() - start < timeout:
        seen = _statuses(_status_tree(server, lb_id))
        if seen == want:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"statuses {seen} never became {want} within {timeout}s")


def test_heartbeats_drive_operating_status_and_statistics_from_real_traffic(server: OstiaServer, net: int) -> None:
    members = [Member(name, f"127.{net}.2.{i}") for name, i in (("s1", 50), ("s2", 51))]
    try:
        lb = create(server, {"name": "health", "vip_subnet_id": subnet_ids(server)["public-subnet"], "listeners": [{
            "protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "pool",
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                                  "max_retries_down": 2, "url_path": "/"},
                "members": [{"address": m.address, "protocol_port": m.port} for m in members]}}]})
        a, b = (m.address for m in members)
        _until(server, lb["id"], ("ONLINE", "ONLINE", {a: "ONLINE", b: "ONLINE"}), 20)

        url = f"http://{lb['vip_address']}:8080/"
        sent = sum(len(httpx.get(url, timeout=5).content) for _ in range(20))
        deadline = time.monotonic() + 15
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = server.get_json(f"/v2/lbaas/loadbalancers/{lb['id']}/stats")["stats"]
            if stats["total_connections"] >= 20 and stats["bytes_out"] >= sent:
                break
            time.sleep(0.2)
        assert stats["total_connections"] >= 20 and stats["bytes_out"] >= sent > 0 and stats["bytes_in"] > 0, stats
        listener = server.get_json(f"/v2/lbaas/listeners/{lb['listeners'][0]['id']}/stats")["stats"]
        assert listener["bytes_out"] == stats["bytes_out"], (listener, stats)

        # delay 1 s × max_retries_down 2, plus one heartbeat (1 s), plus slack for a loaded machine
        members[1].stop()
        _until(server, lb["id"], ("DEGRADED", "DEGRADED", {a: "ONLINE", b: "ERROR"}), 2 * 1 + 1 + 6)
        members[1].start()
        _until(server, lb["id"], ("ONLINE", "ONLINE", {a: "ONLINE", b: "ONLINE"}), 10)
        delete(server, lb["id"])
    finally:
        for m in members:
            m.stop()
