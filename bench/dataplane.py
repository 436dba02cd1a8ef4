"""Data-plane overhead of an Ostia load balancer against a minimal hand-written HAProxy, same backends, same load.

Two HAProxy-served members; wrk (keep-alive, -t2 -c50) runs against (1) the VIP of an Ostia load balancer
(HTTP listener, ROUND_ROBIN pool) built through the API on real amphorae, and (2) a hand-written
`frontend → backend roundrobin` HAProxy config in front of the same members. Prints req/s and p99 of each and
the ratios Ostia ÷ baseline (1.00 = no overhead). wrk, HAProxy and the members share this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import haproxy, members, wrk  # noqa: E402
from _server import ostia_up  # noqa: E402

HEADERS = {"X-Project-Id": "bench", "X-Auth-Token": "notused"}
NET = 232

BASELINE = """frontend baseline
    bind 127.{net}.9.1:8080
    default_backend members

backend members
    balance roundrobin
    server m1 127.{net}.2.10:8081
    server m2 127.{net}.2.11:8081
"""


def build_lb(api: httpx.Client) -> str:
    subnets = {s["name"]: s["id"] for s in api.get("/v2.0/subnets").json()["subnets"]}
    body = {"loadbalancer": {"name": "bench", "vip_subnet_id": subnets["public-subnet"], "listeners": [{
        "protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "pool",
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                {"address": f"127.{NET}.2.{10 + i}", "protocol_port": 8081, "subnet_id": subnets["private-subnet"]}
                for i in range(2)]}}]}}
    lb = api.post("/v2/lbaas/loadbalancers", json=body).json()["loadbalancer"]
    deadline = time.monotonic() + 60
    while api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]["provisioning_status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError("load balancer not ACTIVE")
        time.sleep(0.05)
    return f"http://{lb['vip_address']}:8080/"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each; the best is kept")
    args = parser.parse_args(argv)
    settings = [f"networking.networks=public:public-subnet:127.{NET}.1.0/24,private:private-subnet:127.{NET}.2.0/24",
                f"local_compute.mgmt_cidr=127.{NET}.3.0/24"]
    spec = [(f"m{i + 1}", f"127.{NET}.2.{10 + i}", 8081) for i in range(2)]
    with members(spec), haproxy(BASELINE.format(net=NET)), ostia_up(*settings) as url, \
            httpx.Client(base_url=url, headers=HEADERS, timeout=30) as api:
        vip_url = build_lb(api)
        baseline_url = f"http://127.{NET}.9.1:8080/"
        ostia, base = [], []
        for _ in range(args.rounds):
            ostia.append(wrk(vip_url, args.seconds))
            base.append(wrk(baseline_url, args.seconds))
    o_rps, o_p99 = max(r for r, _ in ostia), min(p for _, p in ostia)
    b_rps, b_p99 = max(r for r, _ in base), min(p for _, p in base)
    print(f"Ostia LB:          {o_rps:10.0f} req/s  p99 {o_p99:7.2f} ms")
    print(f"hand-written HAProxy: {b_rps:7.0f} req/s  p99 {b_p99:7.2f} ms")
    print(f"ratio Ostia / baseline: req/s {o_rps / b_rps:.2f}, p99 {o_p99 / b_p99:.2f} "
          f"(wrk -t2 -c50 -d{args.seconds}s, best of {args.rounds})")
    return {"ostia_rps": round(o_rps), "ostia_p99_ms": round(o_p99, 2), "baseline_rps": round(b_rps),
            "baseline_p99_ms": round(b_p99, 2), "ratio_rps": round(o_rps / b_rps, 2),
            "ratio_p99": round(o_p99 / b_p99, 2), "wrk": f"-t2 -c50 -d{args.seconds}s, best of {args.rounds}"}


if __name__ == "__main__":
    main()
