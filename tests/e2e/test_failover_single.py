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

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import OSTIA, OstiaServer
from tests.support.backends import Member
from tests.support.failover import (
    FULL_TIMELINE,
    Probe,
    allocated_amphorae,
    amphora_pids,
    attach_members,
    create_http_lb,
    delete_lb,
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

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the netns network driver needs root")
PROJECT = "p-failover"
TIMEOUT = 3.0  # heartbeat_timeout: short, so the test is quick (Octavia: 60 s)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[OstiaServer, Any]]:
    with netns_stack(tmp_path, "house_keeping.spare_amphora_pool_size=1", *watched_settings(TIMEOUT)) as stack:
        yield stack


def test_killed_single_amphora_is_replaced_by_the_spare_and_the_vip_serves_again(
        stack: tuple[OstiaServer, Any]) -> None:
    server, hosts = stack
    subnets = subnet_ids(server)
    client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
    members: list[Member] = []
    try:
        members = attach_members(hosts, subnets["private-subnet"])
        lb = create_http_lb(server, subnets, members, PROJECT, "single")
        vip = lb["vip_address"]
        (old,) = allocated_amphorae(server, lb["id"])
        old_ns = hosts.namespace_for(old["id"])
        # The pool refills after the create claimed the booted spare: the failover can claim the next one.
        wait_for(lambda: any(a["status"] == "READY" for a in server.get_json("/v2/octavia/amphorae")["amphorae"]),
                 60, "a READY spare amphora")
        # The health manager inside `ostia up` hears the amphora before anything is killed.
        wait_for(lambda: operating_status(server, lb["id"]) == "ONLINE", 30,
                 "heartbeats to make the load balancer ONLINE")

        with Probe(client_ns, vip, 8080) as probe:
            wait_for(lambda: probe.ok_since(0) >= 4, 15, "traffic through the amphora")
            assert {who for _, who in probe.results if who} == {"m1", "m2"}
            pids = amphora_pids(server.state_dir / "amphorae" / old["id"])
            assert len(pids) >= 3, pids  # agent, HAProxy master and worker
            fault_at = time.monotonic()
            killed_wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            kill_all(pids)
            try:
                # The replacement's VIP NIC has another MAC: its agent's gratuitous ARPs move the client over
                # (without them the client would wait for its neighbour entry to age out, 30-55 s).
                wait_for(lambda: probe.ok_since(fault_at + 0.2) >= 3, 30, "the VIP to serve again")
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
        (new,) = allocated_amphorae(server, lb["id"])
        assert new["id"] != old["id"] and new["role"] == "STANDALONE" and new["ha_ip"] == vip
        new_mac = subprocess.run(["ip", "-n", hosts.namespace_for(new["id"]), "-j", "link", "show", "dev", "eth1"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout
        assert json.loads(new_mac)[0]["address"] in neighbour  # the client reached the replacement's NIC
        assert server.http("GET", f"/v2/octavia/amphorae/{old['id']}")[0] == 404  # DELETED
        assert old_ns not in namespaces()  # the dead amphora's VIP NIC went with its namespace

        wait_for(lambda: stages(server, lb["id"]) == FULL_TIMELINE, 30, "the full timeline")
        events = timeline(server, lb["id"])
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

        delete_lb(server, lb["id"], PROJECT)
    finally:
        for m in members:
            m.stop()
