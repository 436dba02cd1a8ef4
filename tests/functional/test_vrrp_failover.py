"""ACTIVE_STANDBY on real keepalived: two agents in two amphora namespaces, unicast VRRP on a shared bridge.

Topology, all created here and deleted in `finally` (nothing in the host namespace; traffic only inside):
    <p>f   fabric namespace: bridge br0 joining the three links below
    <p>a1  amphora 1 (MASTER, priority 100): eth1 198.18.1.11, agent + HAProxy + keepalived in the namespace
    <p>a2  amphora 2 (BACKUP, priority 90):  eth1 198.18.1.12
    <p>c   client: 198.18.1.100, probes http://198.18.1.10:<port>/ every 50 ms from a thread joined to it
HAProxy on each amphora answers with its amphora id, so the probe sees who holds the VIP.
Outages are printed (pytest -s) so runs can be compared; the asserted bounds are loose (shared 2-core box).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ostia import process
from ostia.agent import procs
from ostia.agent.haproxy import parse_show_proc
from ostia.domain.vrrp import CHECK_SCRIPT, VrrpSpec, auth_pass_for, vrrp_id_for
from ostia.render.keepalived import render_keepalived
from tests.support.agent import Agent, running_agent, short_tmpdir
from tests.support.failover import Probe
from tests.support.processes import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and keepalived need root")

VIP, SUBNET = "198.18.1.10", "198.18.1.0/24"
VRRP_IPS = ("198.18.1.11", "198.18.1.12")
CLIENT_IP = "198.18.1.100"


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


@dataclasses.dataclass
class Net:
    fabric: str
    amps: tuple[str, str]
    client: str


@pytest.fixture
def net() -> Iterator[Net]:
    prefix = f"ostiat{uuid.uuid4().hex[:6]}"
    n = Net(f"{prefix}f", (f"{prefix}a1", f"{prefix}a2"), f"{prefix}c")
    try:
        for ns in (n.fabric, *n.amps, n.client):
            _ip("netns", "add", ns)
        _ip("-n", n.fabric, "link", "add", "br0", "type", "bridge")
        _ip("-n", n.fabric, "link", "set", "br0", "up")
        for i, ns in enumerate((*n.amps, n.client)):
            # The amphora end is left unnamed-by-role (tmpvip): the agent finds it by MAC and names it eth1.
            inner = "c0" if ns == n.client else "tmpvip"
            _ip("-n", n.fabric, "link", "add", f"p{i}", "type", "veth", "peer", "name", inner, "netns", ns)
            _ip("-n", n.fabric, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", n.fabric, "link", "set", f"p{i}", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", n.client, "addr", "add", f"{CLIENT_IP}/24", "dev", "c0")
        _ip("-n", n.client, "link", "set", "c0", "up")
        yield n
    finally:
        for ns in (n.client, *n.amps, n.fabric):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


@pytest.fixture
def pair(net: Net) -> Iterator[tuple[Agent, Agent]]:
    dirs = [short_tmpdir(), short_tmpdir()]
    try:
        with running_agent(dirs[0], net.amps[0], "ACTIVE_STANDBY") as a1, \
                running_agent(dirs[1], net.amps[1], "ACTIVE_STANDBY") as a2:
            yield a1, a2
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _mac(ns: str, dev: str) -> str:
    return str(json.loads(_ip("-n", ns, "-j", "link", "show", "dev", dev))[0]["address"])


def _addresses(ns: str, dev: str = "eth1") -> set[str]:
    return {a["local"] for a in json.loads(_ip("-n", ns, "-j", "addr", "show", "dev", dev))[0]["addr_info"]}


def _wait(cond: object, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _haproxy_cfg(agent: Agent, lb_id: str, port: int) -> str:
    return (f"global\n    maxconn 200\n    stats socket {agent.base_path}/{lb_id}.sock mode 600 level admin\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            f"frontend vip\n    bind {VIP}:{port}\n"
            f"    http-request return status 200 content-type text/plain string {agent.amphora_id}\n")


def _spec(agent: Agent, lb_id: str, me: int, version: int, advert: float) -> VrrpSpec:
    return VrrpSpec(load_balancer_id=lb_id, amphora_id=agent.amphora_id, vrrp_id=vrrp_id_for(lb_id),
                    priority=100 if me == 0 else 90, src_ip=VRRP_IPS[me], peer_ips=(VRRP_IPS[1 - me],),
                    vips=(f"{VIP}/24",), check_script=str(agent.base_path / CHECK_SCRIPT), version=version,
                    advert_int=advert, auth_pass=auth_pass_for(lb_id))


def _bring_up(pair: tuple[Agent, Agent], net: Net, version: int = 3, advert: float = 0.2) -> tuple[str, int]:
    """Plug, HAProxy and keepalived on both amphorae, as the worker's create flow does; returns (lb, port)."""
    lb_id, port = str(uuid.uuid4()), free_port()
    for i, agent in enumerate(pair):
        body: dict[str, object] = {"subnet_cidr": SUBNET, "gateway": None, "mtu": None,
                                   "mac_address": _mac(net.amps[i], "tmpvip"),
                                   "vrrp_ip": VRRP_IPS[i], "host_routes": [], "additional_vips": []}
        assert agent.post(f"/1.0/plug/vip/{VIP}", json=body).status_code == 202
        assert VIP not in _addresses(net.amps[i])  # keepalived's to add, not the plug's
        r = agent.put(f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy", content=_haproxy_cfg(agent, lb_id, port))
        assert r.status_code == 202, r.text  # the BACKUP binds the VIP it does not hold: ip_nonlocal_bind
        assert agent.put(f"/1.0/loadbalancer/{lb_id}/start").status_code == 202, r.text
    for i, agent in enumerate(pair):
        conf = render_keepalived(_spec(agent, lb_id, i, version, advert))
        r = agent.put("/1.0/vrrp/upload", content=conf)
        assert r.status_code == 200, r.text
    for agent in pair:
        r = agent.put("/1.0/vrrp/start")
        assert r.status_code == 202, r.text
    took = _wait(lambda: VIP in _addresses(net.amps[0]), 15, "the MASTER to take the VIP")
    print(f"\nVRRPv{version} advert_int {advert}: MASTER held the VIP {took:.2f} s after start")
    assert VIP not in _addresses(net.amps[1])
    assert pair[1].get("/1.0/vrrp/status").json() == {"keepalived_running": True, "vips_held": []}
    return lb_id, port


def _amphora_id(body: bytes) -> str:
    """HAProxy on each amphora answers with its amphora id."""
    return body.decode()


def _probe(client_ns: str, port: int) -> Probe:
    """GET http://VIP:port/ every 50 ms from the client namespace (at most 60 s); records (time, amphora id)."""
    return Probe(client_ns, VIP, port, limit=60, who=_amphora_id)


def _haproxy_pids(agent: Agent, lb_id: str) -> list[int]:
    master = int((agent.base_path / lb_id / "haproxy.pid").read_text().split()[0])
    info = parse_show_proc(procs.unix_command(agent.base_path / lb_id / "master.sock", "show proc"))
    assert info is not None
    return [master, *info.workers]


def _keepalived_pids(agent: Agent) -> list[int]:
    vrrp = agent.base_path / "vrrp"
    return [int((vrrp / name).read_text().split()[0]) for name in ("keepalived.pid", "vrrp.pid")]


def _kill(pids: list[int]) -> None:
    # Stop them all before killing any: keepalived's VRRP child gets SIGTERM when its parent dies and would
    # otherwise remove the VIP gracefully in the gap between two SIGKILLs, which is not the crash simulated here.
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    _wait(lambda: not any(process.alive(p) for p in pids), 5, f"{pids} to die")


def _outage(probe: Probe, fault_at: float, new_owner: str, old_owner: str) -> float:
    """From the last answer of the old MASTER (or the fault) to the first answer of the new one."""
    before = [t for t, who in probe.results if who == old_owner and t <= fault_at + 0.5]
    start = max(before) if before else fault_at
    first = probe.served_by(new_owner, fault_at)
    assert first is not None, f"{new_owner} never answered: {probe.results[-20:]}"
    return first - start


@pytest.mark.parametrize(("version", "advert"), [(3, 0.2), (2, 1.0)], ids=["vrrp3-0.2s", "vrrp2-1s"])
def test_sigkill_of_the_master_moves_the_vip_and_a_restarted_agent_drops_the_stale_one(
        pair: tuple[Agent, Agent], net: Net, version: int, advert: float) -> None:
    a1, a2 = pair
    lb_id, port = _bring_up(pair, net, version, advert)
    with _probe(net.client, port) as probe:
        _wait(lambda: probe.served_by(a1.amphora_id, 0) is not None, 5, "the MASTER to serve")
        time.sleep(0.5)
        fault_at = time.monotonic()
        _kill(_keepalived_pids(a1) + _haproxy_pids(a1, lb_id))  # no goodbye advert, nothing serving
        _wait(lambda: probe.served_by(a2.amphora_id, fault_at) is not None, 15, "the BACKUP to serve")
        time.sleep(1.0)
    outage = _outage(probe, fault_at, a2.amphora_id, a1.amphora_id)
    after = [who for t, who in probe.results if t > fault_at + outage + 0.5]
    print(f"VRRPv{version} advert_int {advert}: master SIGKILLed → BACKUP serves after {outage:.2f} s "
          f"({len(probe.failures_between(fault_at))} failed probes of {len(probe.results)})")
    assert outage < (2.5 if version == 3 else 6.0)
    assert after and set(after) == {a2.amphora_id}  # only the new MASTER answers from then on
    assert VIP in _addresses(net.amps[1])

    # Scenario B: the killed keepalived could not remove its VIP. The next agent of that amphora does.
    assert VIP in _addresses(net.amps[0])
    # What a load balancer failover asks to pick its order: the stale VIP does not make a1 a serving MASTER.
    assert a1.get("/1.0/vrrp/status").json() == {"keepalived_running": False, "vips_held": [f"{VIP}/24"]}
    assert a2.get("/1.0/vrrp/status").json() == {"keepalived_running": True, "vips_held": [f"{VIP}/24"]}
    a1.kill()
    a1.start()
    assert VIP not in _addresses(net.amps[0])
    assert VRRP_IPS[0] in _addresses(net.amps[0])  # its own address stays


def test_dead_haproxy_on_the_master_hands_the_vip_over(pair: tuple[Agent, Agent], net: Net) -> None:
    a1, a2 = pair
    lb_id, port = _bring_up(pair, net)
    check = a1.base_path / CHECK_SCRIPT
    assert subprocess.run(["ip", "netns", "exec", net.amps[0], str(check)], timeout=10).returncode == 0
    with _probe(net.client, port) as probe:
        _wait(lambda: probe.served_by(a1.amphora_id, 0) is not None, 5, "the MASTER to serve")
        fault_at = time.monotonic()
        _kill(_haproxy_pids(a1, lb_id))  # keepalived lives: its track script must notice
        _wait(lambda: probe.served_by(a2.amphora_id, fault_at) is not None, 15, "the BACKUP to serve")
    outage = _outage(probe, fault_at, a2.amphora_id, a1.amphora_id)
    print(f"HAProxy SIGKILLed on the MASTER → BACKUP serves after {outage:.2f} s")
    assert outage < 6.0
    assert subprocess.run(["ip", "netns", "exec", net.amps[0], str(check)], capture_output=True,
                          timeout=10).returncode == 1
    # keepalived (alive) gave the VIP up itself: FAULT state removes it.
    _wait(lambda: VIP not in _addresses(net.amps[0]), 5, "the old MASTER to drop the VIP")
    # The new MASTER keeps it when HAProxy comes back on the old one (nopreempt).
    assert a1.put(f"/1.0/loadbalancer/{lb_id}/start").status_code == 202
    time.sleep(3)
    assert VIP in _addresses(net.amps[1]) and VIP not in _addresses(net.amps[0])


def test_a_keepalived_config_that_fails_its_test_is_refused(pair: tuple[Agent, Agent], net: Net) -> None:
    a1, _ = pair
    lb_id = str(uuid.uuid4())
    good = render_keepalived(_spec(a1, lb_id, 0, 3, 0.2))
    body: dict[str, object] = {"subnet_cidr": SUBNET, "gateway": None, "mtu": None,
                               "mac_address": _mac(net.amps[0], "tmpvip"),
                               "vrrp_ip": VRRP_IPS[0], "host_routes": [], "additional_vips": []}
    assert a1.post(f"/1.0/plug/vip/{VIP}", json=body).status_code == 202
    assert a1.put("/1.0/vrrp/upload", content=good).status_code == 200
    bad = good.replace("interface eth1", "interface eth9")  # exists nowhere in the namespace
    r = a1.put("/1.0/vrrp/upload", content=bad)
    assert r.status_code == 400 and "eth9" in r.json()["details"]
    assert (a1.base_path / "vrrp" / "keepalived.conf").read_text() == good
    check = Path(a1.base_path / CHECK_SCRIPT)
    assert check.stat().st_mode & 0o777 == 0o755 and check.stat().st_uid == 0


def test_update_vrrp_again_reloads_without_moving_the_vip(pair: tuple[Agent, Agent], net: Net) -> None:
    """What UpdateVrrp does after a failover (or a resumed job): upload + start on running keepalived = SIGHUP."""
    a1, a2 = pair
    lb_id, port = _bring_up(pair, net)
    pids = [_keepalived_pids(a)[0] for a in pair]
    with _probe(net.client, port) as probe:
        _wait(lambda: probe.served_by(a1.amphora_id, 0) is not None, 5, "the MASTER to serve")
        since = time.monotonic()
        for i, agent in enumerate(pair):
            conf = render_keepalived(dataclasses.replace(_spec(agent, lb_id, i, 3, 0.2), garp_refresh=6))
            assert agent.put("/1.0/vrrp/upload", content=conf).status_code == 200
            assert agent.put("/1.0/vrrp/start").json()["details"] == "keepalived reloaded"
        time.sleep(2)
    assert len(probe.failures_between(since)) == 0
    assert {who for t, who in probe.results if t >= since} == {a1.amphora_id}
    assert [_keepalived_pids(a)[0] for a in pair] == pids  # reloaded in place
    assert VIP in _addresses(net.amps[0]) and VIP not in _addresses(net.amps[1])
