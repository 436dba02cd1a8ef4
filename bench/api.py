"""API benchmark against a real `ostia up` (noop drivers).

Prints: p50/p99 latency of listing 1,000 load balancers in one page, and the seconds a 1,000-member batch
update takes from the PUT until the load balancer is ACTIVE again.

    .venv/bin/python bench/api.py [--lbs 1000] [--members 1000] [--db URL]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _server import ostia_up, percentile  # noqa: E402

from tests.support.processes import NOOP_SETTINGS  # noqa: E402

HEADERS = {"X-Project-Id": "bench", "X-Auth-Token": "notused"}
SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"  # the embedded default's public-subnet


def wait_active(client: httpx.Client, lb_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"]
        if status == "ACTIVE":
            return
        if status == "ERROR":
            raise RuntimeError(f"load balancer {lb_id} went ERROR")
        time.sleep(0.02)
    raise TimeoutError(lb_id)


def create_lbs(url: str, count: int) -> list[str]:
    def one(i: int) -> str:
        with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as c:
            resp = c.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"name": f"lb{i}", "vip_subnet_id": SUBNET}})
            resp.raise_for_status()
            return str(resp.json()["loadbalancer"]["id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(count)))
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as c:
        for lb_id in ids:
            wait_active(c, lb_id)
    return ids


def bench_listing(url: str, lbs: int, rounds: int) -> tuple[float, float]:
    create_lbs(url, lbs)
    samples = []
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as c:
        for _ in range(rounds):
            start = time.perf_counter()
            body = c.get("/v2/lbaas/loadbalancers", params={"limit": lbs}).json()
            samples.append(time.perf_counter() - start)
            assert len(body["loadbalancers"]) == lbs, len(body["loadbalancers"])
    return percentile(samples, 50), percentile(samples, 99)


def bench_batch(url: str, members: int) -> float:
    with httpx.Client(base_url=url, headers=HEADERS, timeout=120) as c:
        lb_id = create_lbs(url, 1)[0]
        resp = c.post("/v2/lbaas/pools", json={"pool": {"loadbalancer_id": lb_id, "protocol": "HTTP",
                                                        "lb_algorithm": "ROUND_ROBIN", "name": "bench"}})
        resp.raise_for_status()
        pool_id = resp.json()["pool"]["id"]
        wait_active(c, lb_id)
        body = {"members": [{"address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "protocol_port": 80}
                            for i in range(members)]}
        start = time.perf_counter()
        resp = c.put(f"/v2/lbaas/pools/{pool_id}/members", json=body)
        assert resp.status_code == 202, resp.text
        wait_active(c, lb_id)
        elapsed = time.perf_counter() - start
        got = c.get(f"/v2/lbaas/pools/{pool_id}/members", params={"limit": members}).json()["members"]
        assert len(got) == members and {m["provisioning_status"] for m in got} == {"ACTIVE"}
        return elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lbs", type=int, default=1000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary state dir)")
    args = parser.parse_args(argv)
    # the API and job path alone: noop drivers, no amphorae
    settings = list(NOOP_SETTINGS)
    settings += [f"database.connection={args.db}"] if args.db else []
    with ostia_up(*settings) as url:
        p50, p99 = bench_listing(url, args.lbs, args.rounds)
        print(f"list {args.lbs} load balancers: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
              f"({args.rounds} requests)")
        batch = bench_batch(url, args.members)
        print(f"batch update of {args.members} members to ACTIVE: {batch:.2f} s")
    return {"lbs": args.lbs, "list_p50_ms": round(p50 * 1000, 1), "list_p99_ms": round(p99 * 1000, 1),
            "list_requests": args.rounds, "members": args.members, "batch_update_to_active_s": round(batch, 2)}


if __name__ == "__main__":
    main()
