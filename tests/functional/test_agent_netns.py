"""The agent in network-namespace mode (root): plugging NICs by MAC, HAProxy and keepalived in the namespace.

Topology, all created here and deleted in `finally` (the host namespace never sees an interface):
    ostiat-<id>   the amphora namespace (the agent's network_namespace): veths that become eth1 / eth2
    ostiat-<id>p  the peer namespace holding the other ends (vip0 198.18.1.100, mem0)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ostia import process
from tests.support.agent import Agent, running_agent, short_tmpdir
from tests.support.processes import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    amp = f"ostiat-{uuid.uuid4().hex[:8]}"
    peer = f"{amp}p"
    try:
        _ip("netns", "add", amp)
        _ip("netns", "add", peer)
        # Created in the peer namespace with the other end moved straight into the amphora's.
        _ip("-n", peer, "link", "add", "vip0", "type", "veth", "peer", "name", "tmpvip", "netns", amp)
        _ip("-n", peer, "link", "add", "mem0", "type", "veth", "peer", "name", "tmpmem", "netns", amp)
        _ip("-n", peer, "addr", "add", "198.18.1.100/24", "dev", "vip0")
        for dev in ("lo", "vip0", "mem0"):
            _ip("-n", peer, "link", "set", dev, "up")
        yield amp, peer
    finally:
        for ns in (amp, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


def _mac(ns: str, dev: str) -> str:
    return str(json.loads(_ip("-n", ns, "-j", "link", "show", "dev", dev))[0]["address"])


def _in_netns(pid: int, ns: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino


def _link(ns: str, dev: str) -> dict[str, object]:
    return dict(json.loads(_ip("-n", ns, "-j", "addr", "show", "dev", dev))[0])


@pytest.fixture
def ns_agent(namespaces: tuple[str, str]) -> Iterator[tuple[Agent, str, str]]:
    workdir = short_tmpdir()
    try:
        with running_agent(workdir, namespace=namespaces[0]) as agent:
            yield agent, *namespaces
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_plug_vip_and_member_network_by_mac_inside_the_namespace(ns_agent: tuple[Agent, str, str]) -> None:
    agent, amp, peer = ns_agent
    vip_mac, mem_mac = _mac(amp, "tmpvip"), _mac(amp, "tmpmem")
    host_nonlocal = Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text()
    body: dict[str, object] = {"subnet_cidr": "198.18.1.0/24", "gateway": None, "mac_address": vip_mac, "mtu": 1450,
            "vrrp_ip": "198.18.1.11", "host_routes": [], "additional_vips": []}
    r = agent.post("/1.0/plug/vip/198.18.1.10", json=body)
    assert r.status_code == 202, r.text
    eth1 = _link(amp, "eth1")
    assert eth1["address"] == vip_mac and eth1["mtu"] == 1450 and "UP" in eth1["flags"]  # type: ignore[operator]
    addrs = {a["local"] for a in eth1["addr_info"]}  # type: ignore[attr-defined]
    assert {"198.18.1.10", "198.18.1.11"} <= addrs
    assert agent.post("/1.0/plug/vip/198.18.1.10", json=body).status_code == 202  # idempotent
    nonlocal_bind = subprocess.run(["ip", "netns", "exec", amp, "sysctl", "-n", "net.ipv4.ip_nonlocal_bind"],
                                   capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    assert nonlocal_bind == "1"
    assert Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text() == host_nonlocal  # host untouched

    net = {"mac_address": mem_mac, "mtu": 1500, "fixed_ips": [
        {"ip_address": "198.18.2.11", "subnet_cidr": "198.18.2.0/24", "gateway": None, "host_routes": []}]}
    assert agent.post("/1.0/plug/network", json=net).status_code == 202
    assert agent.post("/1.0/plug/network", json=net).status_code == 202
    eth2 = _link(amp, "eth2")
    assert eth2["address"] == mem_mac
    assert "198.18.2.11" in {a["local"] for a in eth2["addr_info"]}  # type: ignore[attr-defined]
    assert agent.get("/1.0/interface/198.18.1.10").json() == {"message": "OK", "interface": "eth1"}
    assert agent.get("/1.0/interface/198.18.2.11").json()["interface"] == "eth2"
    r = agent.post("/1.0/plug/network", json={**net, "mac_address": "02:00:5e:00:00:99"})
    assert r.status_code == 404 and r.json()["message"] == "No suitable network interface found"
    recorded = json.loads((agent.base_path / "plugged_interfaces.json").read_text())["interfaces"]
    assert {(r["mac"], r["interface"]) for r in recorded} == {(vip_mac, "eth1"), (mem_mac, "eth2")}
    # The link works: the peer namespace reaches the VIP.
    ping = subprocess.run(["ip", "netns", "exec", peer, "ping", "-c1", "-W2", "198.18.1.10"],
                          capture_output=True, timeout=10, check=False)
    assert ping.returncode == 0


def test_haproxy_serves_the_vip_inside_the_namespace(ns_agent: tuple[Agent, str, str]) -> None:
    agent, amp, peer = ns_agent
    body: dict[str, object] = {
        "subnet_cidr": "198.18.1.0/24", "gateway": None, "mac_address": _mac(amp, "tmpvip"), "mtu": None,
            "vrrp_ip": None, "host_routes": [], "additional_vips": []}
    assert agent.post("/1.0/plug/vip/198.18.1.10", json=body).status_code == 202
    lb, port = str(uuid.uuid4()), free_port()
    cfg = ("global\n    maxconn 100\n"
           f"    stats socket {agent.base_path}/{lb}.sock mode 600 level admin\n"
           "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
           f"frontend vip\n    bind 198.18.1.10:{port}\n"
           f"    http-request return status 200 content-type text/plain string {agent.amphora_id}\n")
    assert agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb}/haproxy", content=cfg).status_code == 202
    assert agent.put(f"/1.0/loadbalancer/{lb}/start").status_code == 202
    out = subprocess.run(["ip", "netns", "exec", peer, "curl", "-s", "-m", "3", f"http://198.18.1.10:{port}/"],
                         capture_output=True, text=True, timeout=10, check=False)
    assert out.stdout == agent.amphora_id
    pid = int((agent.base_path / lb / "haproxy.pid").read_text())
    # HAProxy runs inside the amphora namespace, not the host's.
    assert _in_netns(pid, amp)
    assert agent.put(f"/1.0/loadbalancer/{lb}/reload").status_code == 202
    assert agent.delete(f"/1.0/listeners/{lb}").status_code == 200
    assert not process.alive(pid)


def test_keepalived_starts_and_stops_in_the_namespace(ns_agent: tuple[Agent, str, str]) -> None:
    agent, amp, _ = ns_agent
    body: dict[str, object] = {
        "subnet_cidr": "198.18.1.0/24", "gateway": None, "mac_address": _mac(amp, "tmpvip"), "mtu": None,
            "vrrp_ip": "198.18.1.11", "host_routes": [], "additional_vips": []}
    assert agent.post("/1.0/plug/vip/198.18.1.10", json=body).status_code == 202
    conf = ("global_defs {\n    router_id amp1\n}\n"
            "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth1\n    virtual_router_id 51\n"
            "    priority 100\n    nopreempt\n    advert_int 1\n    unicast_src_ip 198.18.1.11\n"
            "    unicast_peer {\n        198.18.1.12\n    }\n"
            "    virtual_ipaddress {\n        198.18.1.10/24 dev eth1\n    }\n}\n")
    assert agent.put("/1.0/vrrp/upload", content=conf).status_code == 200
    r = agent.put("/1.0/vrrp/start")
    assert r.status_code == 202, r.text
    pid = int((agent.base_path / "vrrp" / "keepalived.pid").read_text())
    assert process.alive(pid) and _in_netns(pid, amp)
    assert agent.put("/1.0/vrrp/start").json()["details"] == "keepalived reloaded"  # no second instance
    assert agent.put("/1.0/vrrp/stop").status_code == 202
    deadline = time.monotonic() + 5
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.alive(pid)
    assert agent.put("/1.0/vrrp/bounce").status_code == 400


def test_agent_api_stays_on_loopback(ns_agent: tuple[Agent, str, str]) -> None:
    agent, amp, _ = ns_agent
    info = agent.get("/1.0/info").json()
    assert info["network_namespace"] == amp
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{agent.url}/", timeout=2, verify=False)  # still mutual TLS
