"""Provisioning speed on real amphorae (`ostia up`, local compute, loopback network, the agent over mTLS).

Prints the p50 over --runs runs of:
  * seconds from one single-call create (load balancer + HTTP listener + pool + 2 members) to the first 200
    answered through the VIP;
  * seconds from a member add (POST) to the first request that member serves.
Members are HAProxy `return` frontends (bench/_backends.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import members  # noqa: E402
from _server import ostia_up, percentile  # noqa: E402

HEADERS = {"X-Project-Id": "bench", "X-Auth-Token": "notused"}
NET = 231  # 127.231.x.x: networks of this benchmark's own


def wait_for(fn: Any, timeout: float = 60.0, interval: float = 0.01) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if fn():
            return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError(f"not reached within {timeout}s")


def answer(url: str) -> str | None:
    try:
        r = httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return None
    return r.text.strip() if r.status_code == 200 else None


def wait_active(api: httpx.Client, lb_id: str) -> None:
    wait_for(lambda: api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"]
             == "ACTIVE", interval=0.02)


def one_run(api: httpx.Client, subnet: str, private: str, i: int) -> tuple[float, float]:
    body = {"loadbalancer": {"name": f"bench-{i}", "vip_subnet_id": subnet, "listeners": [{
        "protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "pool",
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                {"address": f"127.{NET}.2.10", "protocol_port": 8081, "subnet_id": private},
                {"address": f"127.{NET}.2.11", "protocol_port": 8081, "subnet_id": private}]}}]}}
    start = time.monotonic()
    resp = api.post("/v2/lbaas/loadbalancers", json=body)
    resp.raise_for_status()
    lb = resp.json()["loadbalancer"]
    url = f"http://{lb['vip_address']}:8080/"
    wait_for(lambda: answer(url) is not None)
    create_s = time.monotonic() - start
    wait_active(api, lb["id"])
    pool_id = api.get("/v2/lbaas/pools", params={"loadbalancer_id": lb["id"]}).json()["pools"][0]["id"]
    start = time.monotonic()
    api.post(f"/v2/lbaas/pools/{pool_id}/members", json={"member": {
        "address": f"127.{NET}.2.12", "protocol_port": 8081, "subnet_id": private}}).raise_for_status()
    wait_for(lambda: answer(url) == "m3")
    member_s = time.monotonic() - start
    wait_active(api, lb["id"])
    api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"}).raise_for_status()
    wait_for(lambda: api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404, interval=0.05)
    return create_s, member_s


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    settings = [f"networking.networks=public:public-subnet:127.{NET}.1.0/24,private:private-subnet:127.{NET}.2.0/24",
                f"local_compute.mgmt_cidr=127.{NET}.3.0/24"]
    spec = [(f"m{i + 1}", f"127.{NET}.2.{10 + i}", 8081) for i in range(3)]
    with members(spec), ostia_up(*settings) as url, httpx.Client(base_url=url, headers=HEADERS, timeout=30) as api:
        subnets = {s["name"]: s["id"] for s in api.get("/v2.0/subnets").json()["subnets"]}
        creates, adds = [], []
        for i in range(args.runs):
            c, m = one_run(api, subnets["public-subnet"], subnets["private-subnet"], i)
            creates.append(c)
            adds.append(m)
    print(f"create → first 200 through the VIP: p50 {percentile(creates, 50):.3f} s "
          f"(min {min(creates):.3f}, max {max(creates):.3f}, {args.runs} runs)")
    print(f"member add → first request it serves: p50 {percentile(adds, 50):.3f} s "
          f"(min {min(adds):.3f}, max {max(adds):.3f}, {args.runs} runs)")
    return {"runs": args.runs, "create_to_first_200_p50_s": round(percentile(creates, 50), 3),
            "create_to_first_200_min_s": round(min(creates), 3), "create_to_first_200_max_s": round(max(creates), 3),
            "member_add_to_first_request_p50_s": round(percentile(adds, 50), 3),
            "member_add_to_first_request_min_s": round(min(adds), 3),
            "member_add_to_first_request_max_s": round(max(adds), 3)}


if __name__ == "__main__":
    main()
