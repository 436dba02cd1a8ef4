"""Pool API (§2.3, §3.1, §3.5, §4) against a real database and the real worker (noop drivers)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import tls_secrets
from tests.support.controller import Api, running_controller

POOLS = "/v2/lbaas/pools"
ZERO = "00000000-0000-0000-0000-000000000000"


def pool_body(lb_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
    if lb_id is not None:
        body["loadbalancer_id"] = lb_id
    return {"pool": body}


def fault(resp: Any, code: int) -> str:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["faultcode"] == ("Client" if code < 500 else "Server") and body["debuginfo"] is None
    return str(body["faultstring"])


def create_pool(api: Api, lb_id: str, **fields: Any) -> dict[str, Any]:
    resp = api.post(POOLS, pool_body(lb_id, **fields))
    assert resp.status_code == 201, resp.text
    pool = resp.json()["pool"]
    api.wait_lb(lb_id)
    return dict(pool)


def test_pool_lifecycle_wire_form_and_listing(api: Api) -> None:
    lb = api.create_lb(name="lb")
    sp = {"type": "APP_COOKIE", "cookie_name": "SESSION"}
    resp = api.post(POOLS, pool_body(lb["id"], name="web", description="d", tags=["a", "b"], session_persistence=sp))
    assert resp.status_code == 201, resp.text
    pool = resp.json()["pool"]
    # The create answer is the committed row: PENDING_CREATE / OFFLINE, parents by id, no health monitor key.
    assert pool["provisioning_status"] == "PENDING_CREATE" and pool["operating_status"] == "OFFLINE"
    assert pool["loadbalancers"] == [{"id": lb["id"]}] and pool["listeners"] == [] and pool["members"] == []
    assert "healthmonitor_id" not in pool
    assert pool["session_persistence"] == {"type": "APP_COOKIE", "cookie_name": "SESSION",
                                           "persistence_timeout": None, "persistence_granularity": None}
    assert pool["tenant_id"] == pool["project_id"] == "p1"
    assert (pool["name"], pool["description"], sorted(pool["tags"])) == ("web", "d", ["a", "b"])
    assert pool["updated_at"] is None and "T" in pool["created_at"] and not pool["created_at"].endswith("Z")
    # TLS settings are only defaulted for pools that re-encrypt.
    assert [pool[k] for k in ("tls_enabled", "tls_ciphers", "tls_versions", "alpn_protocols")] == \
        [False, None, None, None]

    assert api.wait_lb(lb["id"])["pools"] == [{"id": pool["id"]}]
    got = api.get(f"{POOLS}/{pool['id']}").json()["pool"]
    assert got["provisioning_status"] == "ACTIVE"
    assert api.get(f"{POOLS}/{pool['id']}?fields=name&fields=protocol").json() == \
        {"pool": {"name": "web", "protocol": "HTTP"}}

    # PUT: an object without `type` keeps the stored type; the other keys are replaced.
    resp = api.put(f"{POOLS}/{pool['id']}", {"pool": {"name": "web2", "lb_algorithm": "LEAST_CONNECTIONS",
                                                      "session_persistence": {"cookie_name": "OTHER"},
                                                      "tags": ["c"], "admin_state_up": None}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["pool"]
    assert updated["provisioning_status"] == "PENDING_UPDATE" and updated["updated_at"] is not None
    assert (updated["name"], updated["lb_algorithm"], updated["tags"], updated["admin_state_up"]) == \
        ("web2", "LEAST_CONNECTIONS", ["c"], False)
    assert updated["session_persistence"]["type"] == "APP_COOKIE"
    assert updated["session_persistence"]["cookie_name"] == "OTHER"
    api.wait_lb(lb["id"])

    # null removes persistence; turning TLS on fills the TLS defaults in.
    resp = api.put(f"{POOLS}/{pool['id']}", {"pool": {"session_persistence": None, "tls_enabled": True}})
    updated = resp.json()["pool"]
    assert updated["session_persistence"] is None
    assert updated["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert updated["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert updated["tls_ciphers"].startswith("TLS_AES_128_GCM_SHA256:")
    api.wait_lb(lb["id"])
    resp = api.put(f"{POOLS}/{pool['id']}", {"pool": {"tls_versions": ["TLSv1.3"], "alpn_protocols": None}})
    assert resp.json()["pool"]["tls_versions"] == ["TLSv1.3"]
    assert resp.json()["pool"]["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    api.wait_lb(lb["id"])

    # Listing: filters on wire names (loadbalancer_id), fields, and the pools_links key.
    other = create_pool(api, lb["id"], name="tcp", protocol="TCP", lb_algorithm="SOURCE_IP",
                        tls_enabled=True, tls_versions=["TLSv1.2"])
    assert other["tls_versions"] == ["TLSv1.2"] and other["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    listed = api.get(f"{POOLS}?loadbalancer_id={lb['id']}&sort=name:asc").json()
    assert [p["name"] for p in listed["pools"]] == ["tcp", "web2"] and listed["pools_links"] == []
    assert [p["name"] for p in api.get(f"{POOLS}?protocol=TCP").json()["pools"]] == ["tcp"]
    assert [p["name"] for p in api.get(f"{POOLS}?admin_state_up=false").json()["pools"]] == ["web2"]
    assert [p["name"] for p in api.get(f"{POOLS}?tags=c").json()["pools"]] == ["web2"]
    assert api.get(f"{POOLS}?fields=id&name=tcp").json()["pools"] == [{"id": other["id"]}]
    page = api.get(f"{POOLS}?limit=1&sort=name").json()
    assert [p["name"] for p in page["pools"]] == ["tcp"] and page["pools_links"][0]["rel"] == "next"
    assert fault(api.get(f"{POOLS}?colour=red"), 400) == "One or more arguments are either duplicate or invalid"

    # Delete: PENDING_DELETE, then gone.
    assert api.delete(f"{POOLS}/{other['id']}").status_code == 204
    api.wait_lb(lb["id"])
    assert fault(api.get(f"{POOLS}/{other['id']}"), 404) == f"Pool {other['id']} not found."
    assert fault(api.delete(f"{POOLS}/{other['id']}"), 404) == f"Pool {other['id']} not found."
    assert fault(api.put(f"{POOLS}/{ZERO}", {"pool": {"name": "x"}}), 404) == f"Pool {ZERO} not found."
    assert api.wait_lb(lb["id"])["pools"] == [{"id": pool["id"]}]


def test_pool_validation(api: Api, controller: Any) -> None:
    lb = api.create_lb()
    lb_id = lb["id"]

    def post(**fields: Any) -> Any:
        return api.post(POOLS, pool_body(lb_id, **fields))

    assert fault(api.post(POOLS, pool_body()), 400) == \
        "Validation failure: Must provide at least one of: loadbalancer_id, listener_id"
    assert fault(api.post(POOLS, pool_body(ZERO)), 404) == f"Load Balancer {ZERO} not found."
    assert fault(api.post(POOLS, pool_body(lb_id, listener_id=ZERO)), 404) == f"Listener {ZERO} not found."
    assert fault(post(foo=1), 400) == "Unknown attribute for argument pool: foo"
    assert fault(post(members=[]), 400) == "Unknown attribute for argument pool: members"
    assert fault(api.post(POOLS, {"pool": {"loadbalancer_id": lb_id, "protocol": "HTTP"}}), 400) == \
        "Invalid input for field/attribute lb_algorithm. Value: 'None'. Mandatory field missing."
    assert fault(post(protocol="FTP"), 400).startswith(
        "Invalid input for field/attribute protocol. Value: 'FTP'. Value should be one of:")
    assert fault(post(name="x" * 256), 400).endswith("Value should have a maximum character requirement of 255")
    assert fault(api.post(POOLS, pool_body("nope")), 400) == \
        "Invalid input for field/attribute loadbalancer_id. Value: 'nope'. Value should be UUID format"
    assert fault(post(lb_algorithm="SOURCE_IP_PORT"), 501) == \
        "Provider 'amphora' does not support a requested action/option: Amphora provider does not support " \
        "SOURCE_IP_PORT algorithm."

    # Session persistence (§3.5).
    def sp(protocol: str = "HTTP", **persistence: Any) -> str:
        return fault(post(protocol=protocol, session_persistence=persistence), 400)

    assert sp(type="SOURCE_IP", cookie_name="c") == 'Validation failure: Field "cookie_name" can only be ' \
        'specified with session persistence of type "APP_COOKIE".'
    assert sp(type="APP_COOKIE") == 'Validation failure: Field "cookie_name" must be specified when using the ' \
        '"APP_COOKIE" session persistence type.'
    assert sp(type="APP_COOKIE", cookie_name="a;b") == 'Validation failure: Supplied "cookie_name" is invalid.'
    assert sp(type="APP_COOKIE", cookie_name="a b") == 'Validation failure: Supplied "cookie_name" is invalid.'
    assert sp(type="HTTP_COOKIE", persistence_timeout=30) == "Validation failure: persistence_timeout and " \
        "persistence_granularity is only for UDP and SCTP protocol pools."
    assert sp("UDP", type="HTTP_COOKIE") == \
        "Validation failure: Session persistence of type HTTP_COOKIE is not supported for UDP/SCTP protocol pools."
    assert sp("SCTP", type="SOURCE_IP", cookie_name="c") == "Validation failure: session_persistence SOURCE_IP " \
        "type for UDP and SCTP protocols only accepts: type, persistence_timeout, persistence_granularity."
    assert sp(cookie_name="c").startswith("Invalid input for field/attribute type. Value: 'None'.")
    assert sp(type="SOURCE_IP", persistence_granularity="nope") == "Invalid input for field/attribute " \
        "persistence_granularity. Value: 'nope'. Value should be IPv4 or IPv6 format"

    # TLS settings (§3.7).
    assert fault(post(crl_container_ref="crl"), 400) == \
        "Validation failure: A CA certificate reference is required to specify a revocation list."
    assert fault(post(tls_enabled=True, tls_versions=[]), 400) == "Validation failure: Empty TLS version list. " \
        "Either specify at least one TLS version or remove this parameter to use the default."
    assert fault(post(tls_versions=["TLSv9"]), 400) == "Validation failure: Invalid TLS versions: TLSv9"
    assert fault(post(alpn_protocols=[]), 400).startswith("Validation failure: Empty ALPN protocol list.")
    assert fault(post(alpn_protocols=["h3"]), 400) == "Invalid input for field/attribute alpn_protocols. " \
        "Value: 'h3'. Value should be one of: h2, http/1.1, http/1.0"
    assert fault(post(tls_ciphers="AES128 ; evil"), 400).startswith(
        "Invalid input for field/attribute tls_ciphers. Value: 'AES128 ; evil'. Value should match the pattern")

    # Nothing was created; the load balancer never left ACTIVE.
    assert api.get(f"{POOLS}?loadbalancer_id={lb_id}").json()["pools"] == []
    assert api.wait_lb(lb_id)["updated_at"] == lb["updated_at"]

    # PUT rules on a real pool.
    pool = create_pool(api, lb_id, protocol="UDP", session_persistence={"type": "SOURCE_IP",
                                                                        "persistence_timeout": 60})
    assert pool["session_persistence"]["persistence_timeout"] == 60
    path = f"{POOLS}/{pool['id']}"
    assert fault(api.put(path, {"pool": {"lb_algorithm": None}}), 400) == \
        "None is not a valid option for lb_algorithm"
    assert fault(api.put(path, {"pool": {"lb_algorithm": "SOURCE_IP_PORT"}}), 501).startswith(
        "Provider 'amphora' does not support a requested action/option:")
    assert fault(api.put(path, {"pool": {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "c"}}}),
                 400) == "Validation failure: Cookie names are not supported for UDP/SCTP pools."
    assert fault(api.put(path, {"pool": {"protocol": "TCP"}}), 400) == "Unknown attribute for argument pool: protocol"
    assert fault(api.put(path, {"pool": {"crl_container_ref": "crl"}}), 400) == \
        "Validation failure: A CA reference is required to specify a certificate revocation list."
    refs = tls_secrets.store_refs(controller)
    resp = api.put(path, {"pool": {"ca_tls_container_ref": refs.ca, "crl_container_ref": refs.crl}})
    assert resp.status_code == 200, resp.text
    api.wait_lb(lb_id)
    assert fault(api.put(path, {"pool": {"ca_tls_container_ref": None}}), 400) == \
        "Validation failure: A CA reference cannot be removed when a certificate revocation list is present."
    resp = api.put(path, {"pool": {"session_persistence": {"persistence_granularity": "255.255.255.0"}}})
    assert resp.json()["pool"]["session_persistence"] == {
        "type": "SOURCE_IP", "cookie_name": None, "persistence_timeout": None,
        "persistence_granularity": "255.255.255.0"}
    api.wait_lb(lb_id)


def test_pools_on_listeners_and_l7_policies(api: Api) -> None:
    lb = api.create_lb(provider="noop_driver")
    lb_id = lb["id"]

    def listener(protocol: str, port: int) -> str:
        resp = api.post("/v2/lbaas/listeners", {"listener": {"loadbalancer_id": lb_id, "protocol": protocol,
                                                             "protocol_port": port}})
        assert resp.status_code == 201, resp.text
        api.wait_lb(lb_id)
        return str(resp.json()["listener"]["id"])

    http = listener("HTTP", 80)
    assert fault(api.post(POOLS, pool_body(listener_id=http, protocol="TCP")), 400) == \
        "Validation failure: The pool protocol 'TCP' is invalid while the listener protocol is 'HTTP'."
    assert fault(api.post(POOLS, pool_body(listener_id=http, loadbalancer_id=ZERO)), 404) == \
        f"Listener {http} not found."
    # Other providers may hash on the source port.
    resp = api.post(POOLS, pool_body(listener_id=http, protocol="PROXY", lb_algorithm="SOURCE_IP_PORT"))
    assert resp.status_code == 201, resp.text
    default = resp.json()["pool"]
    assert default["listeners"] == [{"id": http}] and default["loadbalancers"] == [{"id": lb_id}]
    api.wait_lb(lb_id)
    assert api.get(f"/v2/lbaas/listeners/{http}").json()["listener"]["default_pool_id"] == default["id"]
    assert fault(api.post(POOLS, pool_body(listener_id=http)), 409) == "This listener already has a default pool"

    # A pool an L7 policy redirects to serves that listener too, and cannot go while the policy exists.
    target = create_pool(api, lb_id, name="target")
    resp = api.post("/v2/lbaas/l7policies", {"l7policy": {"listener_id": http, "action": "REDIRECT_TO_POOL",
                                                          "redirect_pool_id": target["id"]}})
    assert resp.status_code == 201, resp.text
    policy_id = resp.json()["l7policy"]["id"]
    api.wait_lb(lb_id)
    assert api.get(f"{POOLS}/{target['id']}").json()["pool"]["listeners"] == [{"id": http}]
    listed = {p["id"]: p for p in api.get(f"{POOLS}?loadbalancer_id={lb_id}").json()["pools"]}
    assert listed[target["id"]]["listeners"] == listed[default["id"]]["listeners"] == [{"id": http}]
    assert fault(api.delete(f"{POOLS}/{target['id']}"), 409) == \
        f"Pool {target['id']} is in use by L7 policy {policy_id}"

    # Deleting the default pool detaches it from the listener.
    assert api.delete(f"{POOLS}/{default['id']}").status_code == 204
    api.wait_lb(lb_id)
    assert api.get(f"/v2/lbaas/listeners/{http}").json()["listener"]["default_pool_id"] is None
    udp = listener("UDP", 53)
    assert fault(api.post(POOLS, pool_body(listener_id=udp)), 400) == \
        "Validation failure: The pool protocol 'HTTP' is invalid while the listener protocol is 'UDP'."
    resp = api.post(POOLS, pool_body(listener_id=udp, protocol="UDP"))
    assert resp.status_code == 201 and resp.json()["pool"]["listeners"] == [{"id": udp}]
    api.wait_lb(lb_id)
    prometheus = listener("PROMETHEUS", 9100)
    assert fault(api.post(POOLS, pool_body(listener_id=prometheus)), 400) == \
        "Protocol PROMETHEUS listeners cannot have child objects."


def test_pool_changes_on_a_busy_load_balancer(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """With noop calls taking 1 s, objects stay PENDING_* long enough to hit them (§4.1 immutability)."""
    state = str(tmp_path_factory.mktemp("state"))
    with running_controller(db_url, state) as ctl, TestClient(ctl.app) as client:
        lb_id = Api(client).create_lb()["id"]
    # The same database, now served by a controller whose driver calls are slow.
    with running_controller(db_url, state, controller_worker={"noop_task_delay": 1.0}) as ctl, \
            TestClient(ctl.app) as client:
        api = Api(client)
        resp = api.post(POOLS, pool_body(lb_id, name="p"))
        assert resp.status_code == 201, resp.text
        pool_id = resp.json()["pool"]["id"]
        assert api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"] == \
            "PENDING_UPDATE"
        assert api.get(f"{POOLS}/{pool_id}").json()["pool"]["provisioning_status"] == "PENDING_CREATE"
        immutable_lb = f"Load Balancer {lb_id} is immutable and cannot be updated."
        immutable_pool = f"Pool {pool_id} is immutable and cannot be updated."
        assert fault(api.post(POOLS, pool_body(lb_id)), 409) == immutable_lb
        assert fault(api.put(f"{POOLS}/{pool_id}", {"pool": {"name": "q"}}), 409) == immutable_lb
        assert fault(api.delete(f"{POOLS}/{pool_id}"), 409) == immutable_lb
        # The provider's refusal (501) comes from its driver call, after the LB lock: a busy LB answers 409 first.
        assert fault(api.post(POOLS, pool_body(lb_id, lb_algorithm="SOURCE_IP_PORT")), 409) == immutable_lb
        assert fault(api.put(f"{POOLS}/{pool_id}", {"pool": {"lb_algorithm": "SOURCE_IP_PORT"}}), 409) == immutable_lb
        # Members and monitors check their pool first.
        member = {"member": {"address": "10.0.0.1", "protocol_port": 80}}
        assert fault(api.post(f"{POOLS}/{pool_id}/members", member), 409) == immutable_pool
        assert fault(api.put(f"{POOLS}/{pool_id}/members", {"members": []}), 409) == immutable_pool
        hm = {"healthmonitor": {"pool_id": pool_id, "type": "TCP", "delay": 3, "timeout": 2, "max_retries": 2}}
        assert fault(api.post("/v2/lbaas/healthmonitors", hm), 409) == immutable_pool
        api.wait_lb(lb_id)
        assert api.get(f"{POOLS}/{pool_id}").json()["pool"]["provisioning_status"] == "ACTIVE"

        # A batch puts its members PENDING_*, the pool and the LB PENDING_UPDATE until the worker is done.
        members_path = f"{POOLS}/{pool_id}/members"
        two = [{"address": "10.0.0.1", "protocol_port": 80}, {"address": "10.0.0.3", "protocol_port": 80}]
        assert api.put(members_path, {"members": two}).status_code == 202
        assert {m["provisioning_status"] for m in api.get(members_path).json()["members"]} == {"PENDING_CREATE"}
        assert api.get(f"{POOLS}/{pool_id}").json()["pool"]["provisioning_status"] == "PENDING_UPDATE"
        assert api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"] == \
            "PENDING_UPDATE"
        assert fault(api.post("/v2/lbaas/healthmonitors", hm), 409) == immutable_pool
        api.wait_lb(lb_id)
        assert api.get(f"{POOLS}/{pool_id}").json()["pool"]["provisioning_status"] == "ACTIVE"

        change = [{"address": "10.0.0.1", "protocol_port": 80, "weight": 5},
                  {"address": "10.0.0.2", "protocol_port": 80}]
        assert api.put(members_path, {"members": change}).status_code == 202
        pending = {m["address"]: m["provisioning_status"] for m in api.get(members_path).json()["members"]}
        assert pending == {"10.0.0.1": "PENDING_UPDATE", "10.0.0.2": "PENDING_CREATE", "10.0.0.3": "PENDING_DELETE"}
        api.wait_lb(lb_id)
        members = api.get(members_path).json()["members"]
        assert [(m["address"], m["provisioning_status"], m["operating_status"]) for m in members] == [
            ("10.0.0.1", "ACTIVE", "NO_MONITOR"), ("10.0.0.2", "ACTIVE", "NO_MONITOR")]
