"""Single-call ("fully populated") load balancer create (§2.12), on every DB backend."""

from __future__ import annotations

from typing import Any

from tests.conftest import PUBLIC_SUBNET
from tests.support.controller import Api

LBS = "/v2/lbaas/loadbalancers"


def graph() -> dict[str, Any]:
    return {"loadbalancer": {
        "name": "graph", "vip_subnet_id": PUBLIC_SUBNET,
        "listeners": [{
            "name": "web", "protocol": "HTTP", "protocol_port": 80,
            "default_pool": {"name": "main"},
            "l7policies": [{"name": "api", "action": "REDIRECT_TO_POOL", "position": 1,
                            "redirect_pool": {"name": "api-pool", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP",
                                              "members": [{"address": "192.0.2.20", "protocol_port": 8080}]},
                            "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
                                      {"type": "HEADER", "key": "X-Env", "compare_type": "EQUAL_TO",
                                       "value": "prod", "invert": True}]},
                           {"name": "old", "action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/"}],
        }],
        "pools": [{"name": "main", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
                                     "url_path": "/healthz"},
                   "members": [{"address": "192.0.2.10", "protocol_port": 80},
                               {"address": "192.0.2.11", "protocol_port": 80, "weight": 5}]}],
    }}


def test_graph_create_builds_every_object_and_reaches_active(api: Api) -> None:
    resp = api.post(LBS, graph())
    assert resp.status_code == 201, resp.text
    lb = resp.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    # The response carries full objects, not id references.
    (listener,) = lb["listeners"]
    assert listener["name"] == "web" and listener["provisioning_status"] == "PENDING_CREATE"
    policies = {p["name"]: p for p in listener["l7policies"]}
    assert policies["api"]["position"] == 1 and policies["old"]["redirect_http_code"] == 302
    assert [r["type"] for r in policies["api"]["rules"]] == ["PATH", "HEADER"]
    pools = {p["name"]: p for p in lb["pools"]}
    assert set(pools) == {"main", "api-pool"}
    assert listener["default_pool_id"] == pools["main"]["id"]
    assert policies["api"]["redirect_pool_id"] == pools["api-pool"]["id"]
    assert pools["main"]["healthmonitor"]["url_path"] == "/healthz"
    assert pools["api-pool"]["healthmonitor"] is None
    members = {m["address"]: m for m in pools["main"]["members"]}
    assert members["192.0.2.11"]["weight"] == 5
    assert {m["operating_status"] for m in pools["main"]["members"]} == {"OFFLINE"}  # pool has a HM
    assert pools["api-pool"]["members"][0]["operating_status"] == "NO_MONITOR"

    done = api.wait_lb(lb["id"])
    assert done["listeners"] == [{"id": listener["id"]}]
    tree = api.get(f"{LBS}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE"
    statuses = [tree["listeners"][0]["provisioning_status"]]
    for pool in tree["listeners"][0]["pools"]:
        statuses += [pool["provisioning_status"]] + [m["provisioning_status"] for m in pool["members"]]
    assert set(statuses) == {"ACTIVE"} and len(statuses) == 6
    rules = api.get(f"/v2/lbaas/l7policies/{policies['api']['id']}/rules").json()["rules"]
    assert {r["provisioning_status"] for r in rules} == {"ACTIVE"} and {r["operating_status"] for r in rules} == {
        "ONLINE"}
    # Cascade delete removes the whole tree.
    assert api.delete(f"{LBS}/{lb['id']}?cascade=True").status_code == 204
    api.wait_lb(lb["id"], "DELETED")
    assert api.get(f"/v2/lbaas/pools/{pools['main']['id']}").status_code == 404


def _error(api: Api, body: dict[str, Any]) -> tuple[int, str]:
    resp = api.post(LBS, body)
    return resp.status_code, resp.json().get("faultstring", "")


def test_graph_naming_rules_and_nested_validation(sqlite_api: Api) -> None:
    api = sqlite_api
    body = graph()
    body["loadbalancer"]["pools"][0].pop("name")
    assert _error(api, body) == (400, "Validation failure: Pools must be named when creating a fully populated "
                                      "loadbalancer.")
    body = graph()
    body["loadbalancer"]["pools"].append({"name": "main", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
    assert _error(api, body) == (400, "Validation failure: Pool names must be unique when creating a fully "
                                      "populated loadbalancer.")
    body = graph()
    body["loadbalancer"]["listeners"][0]["default_pool"] = {"name": "ghost"}
    assert _error(api, body) == (400, "Validation failure: Pool 'ghost' was referenced but no full definition "
                                      "was found.")
    body = graph()
    del body["loadbalancer"]["pools"][0]["lb_algorithm"]
    assert _error(api, body) == (400, "Validation failure: Pool definition for 'main' missing required "
                                      "attribute: lb_algorithm")
    body = graph()
    body["loadbalancer"]["listeners"][0]["loadbalancer_id"] = "8a3c2e51-6f0b-4c8e-9a53-0f3c4f2d9a11"
    assert _error(api, body) == (400, "Unknown attribute for argument listener: loadbalancer_id")
    body = graph()
    body["loadbalancer"]["listeners"][0]["protocol_port"] = 70000
    assert _error(api, body) == (400, "Invalid input for field/attribute protocol_port. Value: '70000'. "
                                      "Value should be lower or equal to 65535")
    body = graph()
    body["loadbalancer"]["pools"][0]["members"].append({"address": "192.0.2.10", "protocol_port": 80})
    code, _ = _error(api, body)
    assert code == 409
    # Nothing of the refused graphs was stored.
    assert api.get(LBS).json()["loadbalancers"] == []
    assert api.get("/v2/lbaas/pools").json()["pools"] == []
