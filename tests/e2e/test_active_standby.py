"""ACTIVE_STANDBY on the whole stack (root): `ostia up` with the netns network driver, a flavor choosing the
topology, an HTTP listener with real members in namespaces of their own, traffic from a client namespace every
50 ms.

1. The MASTER amphora's keepalived and HAProxy SIGKILLed: the BACKUP takes the VIP and serves. Then an LB
   failover rebuilds both amphorae and keepalived again.
2. Every process of the MASTER amphora SIGKILLed (agent too, so its heartbeats stop): the BACKUP serves within
   a second, the health manager finds the MASTER stale, the worker builds a replacement with its role, runs
   UpdateVrrp on both, and the load balancer is back to two healthy amphorae, traffic flowing all along.
   Then the amphora holding the VIP is killed the same way: the replacement takes over, and is backed again.
Outages are printed (pytest -s).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import OstiaServer
from tests.support.backends import Member
from tests.support.failover import (
    FULL_TIMELINE,
    Probe,
    addresses,
    allocated_amphorae,
    amphora_pids,
    attach_members,
    create_http_lb,
    delete_lb,
    ha_flavor,
    keepalived_running,
    kill_all,
    namespaces,
    netns_stack,
    operating_status,
    stages,
    subnet_ids,
    timeline,
    wait_for,
    watched_settings,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the netns network driver and keepalived need root")
PROJECT = "p-ha"
TIMEOUT = 3.0  # heartbeat_timeout of the automatic failover test: short, so it is quick (Octavia: 60 s)


def _diagnostics(server: OstiaServer, amps: dict[str, dict[str, Any]]) -> str:
    out = []
    for role, amp in amps.items():
        vrrp = server.state_dir / "amphorae" / amp["id"]
        for f in sorted(vrrp.rglob("keepalived.*")):
            out.append(f"--- {role} {f.name}\n{f.read_text(errors='replace')[-3000:]}")
    return "\n".join(out) + "\n--- ostia up\n" + server.log_tail(3000)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[OstiaServer, Any]]:
    with netns_stack(tmp_path, "house_keeping.spare_amphora_pool_size=0") as stack:
        yield stack


@pytest.fixture
def watched_stack(tmp_path: Path) -> Iterator[tuple[OstiaServer, Any]]:
    """The health manager inside `ostia up` fails amphorae over TIMEOUT s after their last heartbeat."""
    with netns_stack(tmp_path, "house_keeping.spare_amphora_pool_size=0", *watched_settings(TIMEOUT)) as stack:
        yield stack


def _amphorae(server: OstiaServer, lb_id: str) -> dict[str, dict[str, Any]]:
    return {a["role"]: a for a in allocated_amphorae(server, lb_id)}


def test_backup_serves_when_the_master_amphora_dies(stack: tuple[OstiaServer, Any]) -> None:
    server, hosts = stack
    subnets = subnet_ids(server)
    client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
    members: list[Member] = []
    try:
        members = attach_members(hosts, subnets["private-subnet"])
        flavor_id = ha_flavor(server)
        started = time.monotonic()
        lb = create_http_lb(server, subnets, members, PROJECT, "ha", flavor_id=flavor_id)
        print(f"\nACTIVE_STANDBY load balancer ACTIVE after {time.monotonic() - started:.1f} s")
        vip = lb["vip_address"]
        amps = _amphorae(server, lb["id"])
        assert set(amps) == {"MASTER", "BACKUP"}
        ns = {role: hosts.namespace_for(a["id"]) for role, a in amps.items()}
        try:
            wait_for(lambda: vip in addresses(ns["MASTER"]), 15, "the MASTER to hold the VIP")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_diagnostics(server, amps)}") from None
        assert vip not in addresses(ns["BACKUP"])

        with Probe(client_ns, vip, 8080) as probe:
            wait_for(lambda: probe.ok_since(0) >= 4, 10, "traffic through the MASTER")
            assert {who for _, who in probe.results if who} == {"m1", "m2"}
            fault_at = time.monotonic()
            pids = amphora_pids(server.state_dir / "amphorae" / amps["MASTER"]["id"], agent=False, keepalived=True)
            assert len(pids) >= 4, pids  # keepalived x2, HAProxy master + worker
            kill_all(pids)
            wait_for(lambda: vip in addresses(ns["BACKUP"]), 15, "the BACKUP to take the VIP")
            wait_for(lambda: probe.ok_since(fault_at) >= 1, 15, "traffic through the BACKUP")
            recovered = next(t for t, who in probe.results if t >= fault_at and who)
            time.sleep(2)
        failed_after = [t for t, who in probe.results if t > recovered + 0.5 and not who]
        outage = recovered - max(t for t, who in probe.results if t < fault_at and who)
        print(f"MASTER's keepalived and HAProxy SIGKILLed: BACKUP serves after {outage:.2f} s")
        assert outage < 5.0
        assert not failed_after, f"{len(failed_after)} failures after the takeover"

        # LB failover replaces the amphorae one at a time (BACKUP, then MASTER): the pair keeps serving.
        with Probe(client_ns, vip, 8080) as probe:
            wait_for(lambda: probe.ok_since(0) >= 4, 10, "traffic before the LB failover")
            status, body = server.http("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}/failover", project=PROJECT)
            assert status == 202, body
            started = time.monotonic()
            server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=120)
            done = time.monotonic()
            wait_for(lambda: probe.ok_since(done) >= 1, 15, "traffic after the LB failover")
        took = done - started
        gap = _longest_gap(probe.results)
        print(f"LB failover (rolling): ACTIVE after {took:.1f} s; {len(probe.failures_between(started))} failed "
              f"probes of {len(probe.results)}, longest gap between answers {gap:.2f} s")
        assert gap < 2.5, f"the LB failover interrupted traffic for {gap:.2f} s"
        events = timeline(server, lb["id"])
        assert [e["stage"] for e in events[-4:]] == ["TRAFFIC_RESTORED", "REDUNDANCY_RESTORED"] * 2
        # the MASTER with dead keepalived went first, the BACKUP that held the VIP last
        replaced = [e["detail"].split("replaced amp=")[1] for e in events[-4:] if e["stage"] == "REDUNDANCY_RESTORED"]
        assert replaced == [amps["MASTER"]["id"], amps["BACKUP"]["id"]]
        new = _amphorae(server, lb["id"])
        assert set(new) == {"MASTER", "BACKUP"} and not {a["id"] for a in new.values()} & {
            a["id"] for a in amps.values()}
        new_ns = [hosts.namespace_for(a["id"]) for a in new.values()]
        wait_for(lambda: sum(vip in addresses(n) for n in new_ns) == 1, 15, "one new amphora to hold the VIP")
        delete_lb(server, lb["id"], PROJECT)
    finally:
        for m in members:
            m.stop()


def test_killed_master_amphora_is_replaced_automatically_and_redundancy_restored(
        watched_stack: tuple[OstiaServer, Any]) -> None:
    server, hosts = watched_stack
    subnets = subnet_ids(server)
    client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
    members: list[Member] = []
    try:
        members = attach_members(hosts, subnets["private-subnet"])
        lb = create_http_lb(server, subnets, members, PROJECT, "ha", flavor_id=ha_flavor(server))
        vip = lb["vip_address"]
        amps = _amphorae(server, lb["id"])
        assert set(amps) == {"MASTER", "BACKUP"}
        ns = {role: hosts.namespace_for(a["id"]) for role, a in amps.items()}
        amp_dir = {role: server.state_dir / "amphorae" / a["id"] for role, a in amps.items()}
        try:
            wait_for(lambda: vip in addresses(ns["MASTER"]), 15, "the MASTER to hold the VIP")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_diagnostics(server, amps)}") from None
        # Both amphorae report before anything is killed: the MASTER has a health row that can go stale.
        wait_for(lambda: operating_status(server, lb["id"]) == "ONLINE", 30,
                 "heartbeats to make the load balancer ONLINE")

        with Probe(client_ns, vip, 8080) as probe:
            wait_for(lambda: probe.ok_since(0) >= 4, 10, "traffic through the MASTER")
            pids = amphora_pids(amp_dir["MASTER"], agent=True, keepalived=True)
            assert len(pids) >= 5, pids  # agent, keepalived x2, HAProxy master + worker
            fault_at = time.monotonic()
            killed_wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            kill_all(pids)
            wait_for(lambda: vip in addresses(ns["BACKUP"]), 15, "the BACKUP to take the VIP")
            wait_for(lambda: probe.ok_since(fault_at) >= 1, 15, "traffic through the BACKUP")
            _, recovered = probe.outage(fault_at)
            try:
                wait_for(lambda: stages(server, lb["id"]) == FULL_TIMELINE, 90, "the full timeline")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{timeline(server, lb['id'])}\n{server.log_tail()}") from None
            restored_at = time.monotonic()
            server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=30)
            new = _amphorae(server, lb["id"])
            new_ns = {role: hosts.namespace_for(a["id"]) for role, a in new.items()}
            wait_for(lambda: sum(vip in addresses(n) for n in new_ns.values()) == 1, 15,
                     "exactly one amphora to hold the VIP")
            holder = next(role for role, n in new_ns.items() if vip in addresses(n))
            wait_for(lambda: probe.ok_since(restored_at) >= 20, 15,
                     "traffic after redundancy is back")
        before, _ = probe.outage(fault_at)
        outage = recovered - before

        # Two healthy amphorae again: the BACKUP kept its place, the replacement took the dead MASTER's role.
        assert set(new) == {"MASTER", "BACKUP"}, new
        assert new["BACKUP"]["id"] == amps["BACKUP"]["id"]
        assert new["MASTER"]["id"] != amps["MASTER"]["id"] and new["MASTER"]["ha_ip"] == vip
        assert server.http("GET", f"/v2/octavia/amphorae/{amps['MASTER']['id']}")[0] == 404  # DELETED
        assert ns["MASTER"] not in namespaces()
        new_dir = {role: server.state_dir / "amphorae" / a["id"] for role, a in new.items()}
        assert all(keepalived_running(d) for d in new_dir.values())
        # UpdateVrrp ran on both: each keepalived.conf names the other's address as its unicast peer.
        for role, other in (("MASTER", "BACKUP"), ("BACKUP", "MASTER")):
            (conf,) = new_dir[role].rglob("keepalived.conf")
            text = conf.read_text()
            assert new[other]["vrrp_ip"] in text and new[role]["vrrp_ip"] in text, (role, text)
            assert amps["MASTER"]["vrrp_ip"] == new["MASTER"]["vrrp_ip"] or amps["MASTER"]["vrrp_ip"] not in text

        # Traffic: none failed once the BACKUP served, except while the VIP moved back (if it did).
        late = probe.failures_between(recovered + 0.5)
        if holder == "BACKUP":
            assert not late, f"{len(late)} failed requests after the BACKUP took over"
        else:
            assert not late or late[-1] - late[0] < 2.0, f"{len(late)} failed requests over {late[-1] - late[0]:.2f} s"
        events = timeline(server, lb["id"])
        at = {e["stage"]: dt.datetime.fromisoformat(e["at"]) for e in events}
        detected = (at["DETECTED"] - killed_wall).total_seconds()
        assert TIMEOUT - 0.5 <= detected <= TIMEOUT + 4, detected
        assert events[2]["amphora_id"] == amps["BACKUP"]["id"] and events[3]["amphora_id"] == new["MASTER"]["id"]
        print(f"\nACTIVE_STANDBY MASTER amphora SIGKILLed: BACKUP serves after {outage:.2f} s, detected after "
              f"{detected:.2f} s (heartbeat_timeout {TIMEOUT:g} s), redundancy restored "
              f"+{(at['REDUNDANCY_RESTORED'] - at['DECIDED']).total_seconds():.2f} s after the decision; "
              f"VIP on the {holder}; {len(late)} failed requests after the takeover")

        # Redundancy is real: the replacement takes over when the amphora holding the VIP dies in turn, and
        # the health manager replaces that one as well (with its role).
        survivor = new[holder]
        with Probe(client_ns, vip, 8080, limit=60) as probe:
            wait_for(lambda: probe.ok_since(0) >= 4, 10, "traffic before the second kill")
            second_at = time.monotonic()
            kill_all(amphora_pids(new_dir[holder], agent=True, keepalived=True))
            other = "BACKUP" if holder == "MASTER" else "MASTER"
            wait_for(lambda: vip in addresses(new_ns[other]), 15, f"the replacement ({other}) to take the VIP")
            wait_for(lambda: probe.ok_since(second_at) >= 1, 15, "traffic through the replacement")
            wait_for(lambda: stages(server, lb["id"]).count("REDUNDANCY_RESTORED") == 2,
                     90, "the second failover")
        before, after = probe.outage(second_at)
        assert after - before < 5.0
        server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=30)
        third = _amphorae(server, lb["id"])
        assert set(third) == {"MASTER", "BACKUP"} and survivor["id"] not in {a["id"] for a in third.values()}
        assert third[other]["id"] == new[other]["id"]
        print(f"then the {holder} holding the VIP SIGKILLed: the replacement serves after {after - before:.2f} s, "
              f"and is replaced in turn")

        delete_lb(server, lb["id"], PROJECT)
    finally:
        for m in members:
            m.stop()


def _longest_gap(results: list[tuple[float, str | None]]) -> float:
    """The longest time between two successful answers (the client's worst outage)."""
    ok = [t for t, who in results if who]
    return max((b - a for a, b in itertools.pairwise(ok)), default=float("inf"))
