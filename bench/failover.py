"""What a client sees when an amphora dies, at the health manager settings `ostia up` starts with (root).

One `ostia up` with the netns network driver (tests/support/failover.py netns_stack), two HTTP members and a
client in namespaces of their own. Each run creates a load balancer (ACTIVE_STANDBY through a flavor, or
SINGLE), waits until the health manager hears its amphorae, probes the VIP from the client every 50 ms and
SIGKILLs every process of the MASTER (or the one STANDALONE) amphora: agent, HAProxy master and workers,
keepalived. Per run it prints
  - failed: seconds of failed requests (each run of failed requests, from its first failure to the next
    success, summed) and how many requests failed;
  - redundancy: seconds from the kill until the timeline's REDUNDANCY_RESTORED (the LB is then ACTIVE with
    its full set of ALLOCATED amphorae, which is checked);
then, on the healed load balancer, a planned `openstack loadbalancer failover` under the same probe (amphorae
replaced one at a time): its seconds of failed requests and its time until ACTIVE; and the median of each per
topology. The [health_manager] settings in force are printed first.

    .venv/bin/python bench/failover.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # pulled in by oslo.service
from ostia import conf as conf_mod  # noqa: E402
from tests.e2e.conftest import OstiaServer  # noqa: E402
from tests.support.failover import (  # noqa: E402
    Probe,
    addresses,
    allocated_amphorae,
    amphora_pids,
    attach_members,
    create_http_lb,
    ha_flavor,
    netns_stack,
    operating_status,
    subnet_ids,
    timeline,
    wait_for,
)

PROJECT = "bench-failover"
RUN_LIMIT = 120.0  # seconds a run's probe may last (detection + rebuild + margin)


def failed_seconds(results: list[tuple[float, str | None]], fault_at: float) -> tuple[float, int]:
    """Sum over every run of failed requests after the fault: from its first failure to the next success."""
    total, count, first_fail = 0.0, 0, None
    for at, who in results:
        if at < fault_at:
            continue
        if who is None:
            count += 1
            first_fail = at if first_fail is None else first_fail
        elif first_fail is not None:
            total += at - first_fail
            first_fail = None
    if first_fail is not None:  # still failing when the probe stopped
        total += results[-1][0] - first_fail
    return total, count


def one_run(server: OstiaServer, hosts: Any, subnets: dict[str, str], members: list[Any], client_ns: str,
            topology: str, flavor_id: str | None, n: int) -> dict[str, Any]:
    lb = create_http_lb(server, subnets, members, PROJECT, f"{topology.lower()}-{n}", flavor_id=flavor_id)
    try:
        amps = {a["role"]: a for a in allocated_amphorae(server, lb["id"])}
        victim = amps["MASTER"] if topology == "ACTIVE_STANDBY" else amps["STANDALONE"]
        if topology == "ACTIVE_STANDBY":
            ns = hosts.namespace_for(victim["id"])
            wait_for(lambda: lb["vip_address"] in addresses(ns), 20, "the MASTER to hold the VIP")
        else:  # steady state: the pool refilled after the create claimed the spare
            wait_for(lambda: any(a["status"] == "READY" for a in server.get_json("/v2/octavia/amphorae")["amphorae"]),
                     90, "a READY spare amphora")
        wait_for(lambda: operating_status(server, lb["id"]) == "ONLINE", 30, "heartbeats (LB ONLINE)")
        with Probe(client_ns, lb["vip_address"], 8080, limit=RUN_LIMIT) as probe:
            wait_for(lambda: probe.ok_since(0) >= 10, 15, "traffic through the VIP")
            pids = amphora_pids(server.state_dir / "amphorae" / victim["id"], agent=True, keepalived=True)
            fault_at = time.monotonic()
            killed = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_for(lambda: "REDUNDANCY_RESTORED" in {e["stage"] for e in timeline(server, lb["id"])}
                     or "FAILED" in {e["stage"] for e in timeline(server, lb["id"])}, RUN_LIMIT - 20,
                     "REDUNDANCY_RESTORED")
            server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=30)
            settled = time.monotonic()
            wait_for(lambda: probe.ok_since(settled) >= 20, 15, "traffic after the failover")  # ~1 s more
        events = {e["stage"]: dt.datetime.fromisoformat(e["at"]) for e in timeline(server, lb["id"])}
        if "FAILED" in events:
            raise RuntimeError(f"{topology} run {n}: the failover flow failed: {timeline(server, lb['id'])}")
        now = {a["role"]: a for a in allocated_amphorae(server, lb["id"])}
        if set(now) != set(amps) or victim["id"] in {a["id"] for a in now.values()}:
            raise RuntimeError(f"{topology} run {n}: amphorae after the failover {now}")
        failed, count = failed_seconds(list(probe.results), fault_at)
        planned_failed, planned_count, planned_active = planned_failover(server, client_ns, lb)
        return {"failed": failed, "failed_requests": count, "pids": len(pids),
                "detected": (events["DETECTED"] - killed).total_seconds(),
                "redundancy": (events["REDUNDANCY_RESTORED"] - killed).total_seconds(),
                "planned_failed": planned_failed, "planned_failed_requests": planned_count,
                "planned_active": planned_active}
    finally:
        status, _ = server.http("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", project=PROJECT)
        if status == 204:
            server.wait_gone(f"/v2/lbaas/loadbalancers/{lb['id']}", timeout=60)


def planned_failover(server: OstiaServer, client_ns: str, lb: dict[str, Any]) -> tuple[float, int, float]:
    """`openstack loadbalancer failover` of the healthy LB (e.g. a new amphora image): seconds of failed requests,
    how many failed, and seconds until the LB is ACTIVE again with a new set of amphorae."""
    before = {a["id"] for a in allocated_amphorae(server, lb["id"])}
    with Probe(client_ns, lb["vip_address"], 8080, limit=RUN_LIMIT) as probe:
        wait_for(lambda: probe.ok_since(0) >= 10, 15, "traffic before the planned failover")
        started = time.monotonic()
        status, body = server.http("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}/failover", project=PROJECT)
        if status != 202:
            raise RuntimeError(f"planned failover refused: {status} {body}")
        server.wait_for(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=RUN_LIMIT - 20)
        active = time.monotonic() - started
        settled = time.monotonic()
        wait_for(lambda: probe.ok_since(settled) >= 20, 15, "traffic after the planned failover")
    after = {a["id"] for a in allocated_amphorae(server, lb["id"])}
    if after & before or len(after) != len(before):
        raise RuntimeError(f"planned failover: amphorae {before} → {after}")
    failed, count = failed_seconds(list(probe.results), started)
    return failed, count, active


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per topology (1-10)")
    args = parser.parse_args(argv)
    runs = max(1, min(args.runs, 10))
    if os.geteuid() != 0:
        sys.exit("bench/failover.py needs root (network namespaces, keepalived)")
    hm = conf_mod.load([], {}).health_manager
    print(f"[health_manager] defaults of `ostia up`: heartbeat_interval {hm.heartbeat_interval:g} s, "
          f"heartbeat_timeout {hm.heartbeat_timeout:g} s, health_check_interval {hm.health_check_interval:g} s; "
          f"client probe every 50 ms (connect timeout 0.3 s, read 0.5 s); {runs} run(s) per topology", flush=True)
    results: dict[str, list[dict[str, Any]]] = {"ACTIVE_STANDBY": [], "SINGLE": []}
    with tempfile.TemporaryDirectory(prefix="ostia-bench-failover-") as state, \
            netns_stack(Path(state)) as (server, hosts):
        subnets = subnet_ids(server)
        client_ns, _ = hosts.attach_host("client", subnets["public-subnet"])
        members = attach_members(hosts, subnets["private-subnet"])
        try:
            flavor_id = ha_flavor(server)
            for n in range(runs):  # alternate, so drift on the machine hits both alike
                for topology in results:
                    r = one_run(server, hosts, subnets, members, client_ns, topology,
                                flavor_id if topology == "ACTIVE_STANDBY" else None, n)
                    results[topology].append(r)
                    print(f"  {topology:<14} run {n + 1}: failed {r['failed']:5.2f} s ({r['failed_requests']} "
                          f"requests), detected {r['detected']:5.2f} s, redundancy restored {r['redundancy']:5.2f} s "
                          f"after the kill ({r['pids']} processes killed); planned LB failover: failed "
                          f"{r['planned_failed']:5.2f} s ({r['planned_failed_requests']} requests), ACTIVE after "
                          f"{r['planned_active']:5.2f} s", flush=True)
        finally:
            for m in members:
                m.stop()
    print("median over the runs:")
    figures: dict[str, Any] = {"runs_per_topology": runs, "heartbeat_interval_s": hm.heartbeat_interval,
                               "heartbeat_timeout_s": hm.heartbeat_timeout,
                               "health_check_interval_s": hm.health_check_interval}
    for topology, rs in results.items():
        medians = {k: round(statistics.median(r[k] for r in rs), 2)
                   for k in ("failed", "detected", "redundancy", "planned_failed", "planned_active")}
        figures[topology] = {"failed_requests_s": medians["failed"], "detected_s": medians["detected"],
                             "redundancy_restored_s": medians["redundancy"],
                             "failed_requests": [r["failed_requests"] for r in rs],
                             "planned_failover_failed_s": medians["planned_failed"],
                             "planned_failover_failed_requests": [r["planned_failed_requests"] for r in rs],
                             "planned_failover_active_s": medians["planned_active"]}
        print(f"  {topology:<14} failed requests {medians['failed']:5.2f} s, detected {medians['detected']:5.2f} s, "
              f"redundancy restored {medians['redundancy']:5.2f} s after the kill; planned LB failover: failed "
              f"{medians['planned_failed']:5.2f} s, ACTIVE after {medians['planned_active']:5.2f} s")
    return figures


if __name__ == "__main__":
    main()
