"""Health monitor API (§2.5, §3.2) against a real database and the real worker."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.functional.test_pools import ZERO, create_pool, fault
from tests.support.controller import Api, running_controller

HMS = "/v2/lbaas/healthmonitors"


def hm_body(pool_id: str, **fields: Any) -> dict[str, Any]:
    return {"healthmonitor": {"pool_id": pool_id, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
                              **fields}}


def test_health_monitor_lifecycle(api: Api) -> None:
    lb = api.create_lb()
    pool = create_pool(api, lb["id"])
    members = f"/v2/lbaas/pools/{pool['id']}/members"
    assert api.post(members, {"member": {"address": "10.0.0.1", "protocol_port": 80}}).status_code == 201
    api.wait_lb(lb["id"])

    resp = api.post(HMS, hm_body(pool["id"], name="hm", tags=["t"]))
    assert resp.status_code == 201, resp.text
    hm = resp.json()["healthmonitor"]
    assert (hm["provisioning_status"], hm["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    # HTTP(S) monitors get Octavia's defaults; the monitor names its pool by id.
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"], hm["max_retries_down"]) == ("GET", "/", "200", 3)
    assert (hm["http_version"], hm["domain_name"], hm["pools"]) == (None, None, [{"id": pool["id"]}])
    assert (hm["name"], hm["tags"], hm["tenant_id"], hm["delay"], hm["timeout"]) == ("hm", ["t"], "p1", 5, 3)
    assert "description" not in hm
    api.wait_lb(lb["id"])
    got = api.get(f"{HMS}/{hm['id']}").json()["healthmonitor"]
    assert (got["provisioning_status"], got["operating_status"]) == ("ACTIVE", "ONLINE")
    assert api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]["healthmonitor_id"] == hm["id"]
    assert fault(api.post(HMS, hm_body(pool["id"], type="TCP")), 409) == "This pool already has a health monitor"
    # Members created from now on start OFFLINE (until checks report).
    resp = api.post(members, {"member": {"address": "10.0.0.2", "protocol_port": 80}})
    assert resp.json()["member"]["operating_status"] == "OFFLINE"
    api.wait_lb(lb["id"])

    # PUT: null resets HTTP fields and max_retries_down to defaults; delay/timeout/max_retries cannot be null.
    path = f"{HMS}/{hm['id']}"
    resp = api.put(path, {"healthmonitor": {"url_path": "/health", "expected_codes": "200-204", "http_method": "HEAD",
                                            "max_retries_down": 5, "delay": "10", "admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    changed = resp.json()["healthmonitor"]
    assert changed["provisioning_status"] == "PENDING_UPDATE" and changed["admin_state_up"] is False
    assert (changed["url_path"], changed["expected_codes"], changed["http_method"], changed["max_retries_down"],
            changed["delay"]) == ("/health", "200-204", "HEAD", 5, 10)
    api.wait_lb(lb["id"])
    assert api.get(path).json()["healthmonitor"]["operating_status"] == "OFFLINE"  # admin down
    resp = api.put(path, {"healthmonitor": {"url_path": None, "expected_codes": None, "http_method": None,
                                            "max_retries_down": None, "name": None}})
    changed = resp.json()["healthmonitor"]
    assert (changed["url_path"], changed["expected_codes"], changed["http_method"], changed["max_retries_down"],
            changed["name"]) == ("/", "200", "GET", 3, "")
    api.wait_lb(lb["id"])
    for field in ("delay", "timeout", "max_retries"):
        assert fault(api.put(path, {"healthmonitor": {field: None}}), 400) == f"None is not a valid option for {field}"

    # domain_name needs http_version ≥ 1.1 (sent as a string, as gophercloud does).
    assert fault(api.put(path, {"healthmonitor": {"domain_name": "example.com"}}), 400) == \
        "Validation failure: 'http_version' must be specified when 'domain_name' is provided."
    assert fault(api.put(path, {"healthmonitor": {"domain_name": "example.com", "http_version": "1.0"}}), 400) == \
        "http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name health check"
    resp = api.put(path, {"healthmonitor": {"domain_name": "example.com", "http_version": "1.1"}})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["healthmonitor"]["http_version"], resp.json()["healthmonitor"]["domain_name"]) == \
        (1.1, "example.com")
    api.wait_lb(lb["id"])
    assert fault(api.put(path, {"healthmonitor": {"http_version": 1.0}}), 400) == \
        "http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name health check"

    # Listing with filters on monitor fields and the owning pool.
    listed = api.get(f"{HMS}?pool_id={pool['id']}").json()
    assert [h["id"] for h in listed["healthmonitors"]] == [hm["id"]] and listed["healthmonitors_links"] == []
    assert api.get(f"{HMS}?type=TCP").json()["healthmonitors"] == []
    assert api.get(f"{HMS}?delay=10&fields=delay").json()["healthmonitors"] == [{"delay": 10}]
    assert fault(api.get(f"{HMS}/{ZERO}"), 404) == f"Health Monitor {ZERO} not found."

    # Delete: the monitor goes, the pool loses its healthmonitor_id and members report NO_MONITOR again.
    assert api.delete(path).status_code == 204
    api.wait_lb(lb["id"])
    assert fault(api.get(path), 404) == f"Health Monitor {hm['id']} not found."
    assert "healthmonitor_id" not in api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]
    assert {m["operating_status"] for m in api.get(members).json()["members"]} == {"NO_MONITOR"}
    assert fault(api.delete(path), 404) == f"Health Monitor {hm['id']} not found."


def test_health_monitor_validation(api: Api) -> None:
    lb = api.create_lb()
    tcp = create_pool(api, lb["id"], protocol="TCP")["id"]
    udp = create_pool(api, lb["id"], protocol="UDP")["id"]

    def post(pool_id: str = tcp, **fields: Any) -> Any:
        return api.post(HMS, hm_body(pool_id, **fields))

    assert fault(post(ZERO), 404) == f"Pool {ZERO} not found."
    assert fault(post(pool_id="nope"), 400) == \
        "Invalid input for field/attribute pool_id. Value: 'nope'. Value should be UUID format"
    assert fault(api.post(HMS, {"healthmonitor": {"pool_id": tcp, "delay": 1, "timeout": 1, "max_retries": 1}}),
                 400) == "Invalid input for field/attribute type. Value: 'None'. Mandatory field missing."
    assert fault(post(type="ICMP"), 400).startswith("Invalid input for field/attribute type. Value: 'ICMP'. "
                                                    "Value should be one of:")
    assert fault(post(max_retries=11), 400).endswith("Value should be lower or equal to 10")
    assert fault(post(max_retries_down=0), 400).endswith("Value should be greater or equal to 1")
    assert fault(post(delay=-1), 400).endswith("Value should be greater or equal to 0")
    assert fault(post(timeout="soon"), 400).startswith("Invalid input for field/attribute timeout. Value: 'soon'.")
    assert fault(post(http_version=2), 400) == \
        "Invalid input for field/attribute http_version. Value: '2'. Value should be one of: 1.0, 1.1"
    assert fault(post(url_path="http://example.com/"), 400) == "Invalid input for field/attribute url_path. " \
        "Value: 'http://example.com/'. Value must be a valid URL Path string"
    assert fault(post(url_path="/a b"), 400).endswith("Value must be a valid URL Path string")
    assert fault(post(expected_codes="20x"), 400).startswith(
        "Invalid input for field/attribute expected_codes. Value: '20x'. Value should match the pattern")
    assert fault(post(domain_name="-bad-.com", http_version=1.1), 400).startswith(
        "Invalid input for field/attribute domain_name. Value: '-bad-.com'. Value should match the pattern")
    assert fault(post(description="x"), 400) == "Unknown attribute for argument healthmonitor: description"

    # Type rules (§3.2) and HTTP-only fields.
    for field, value in (("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")):
        assert fault(post(type="TCP", **{field: value}), 400) == \
            f"{field} is not a valid option for health monitors of type TCP"
    assert fault(post(type="UDP-CONNECT"), 400) == \
        "Validation failure: The UDP-CONNECT type is only supported for pools of type UDP/SCTP."
    assert fault(post(type="SCTP"), 400) == \
        "Validation failure: The SCTP type is only supported for pools of type UDP/SCTP."
    for hm_type in ("PING", "HTTPS", "TLS-HELLO"):
        assert fault(post(udp, type=hm_type), 400) == "Validation failure: The associated pool protocol is UDP, " \
            "so only a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported."
    assert fault(post(udp, type="UDP-CONNECT", delay=2), 400) == "Validation failure: The request delay value 2 " \
        "should be larger than 3 for UDP-CONNECT health monitor type."
    assert api.get(f"{HMS}").json()["healthmonitors"] == []
    assert api.wait_lb(lb["id"])["provisioning_status"] == "ACTIVE"

    # Non-HTTP monitors have no HTTP fields, and may not be given any on PUT (not even null).
    resp = post(type="TLS-HELLO", http_method=None)
    assert resp.status_code == 201, resp.text
    tls_hello = resp.json()["healthmonitor"]
    assert (tls_hello["http_method"], tls_hello["url_path"], tls_hello["expected_codes"]) == (None, None, None)
    api.wait_lb(lb["id"])
    assert fault(api.put(f"{HMS}/{tls_hello['id']}", {"healthmonitor": {"url_path": None}}), 400) == \
        "url_path is not a valid option for health monitors of type TLS-HELLO"
    assert fault(api.put(f"{HMS}/{tls_hello['id']}", {"healthmonitor": {"type": "TCP"}}), 400) == \
        "Unknown attribute for argument healthmonitor: type"
    resp = post(udp, type="UDP-CONNECT", delay=3)
    assert resp.status_code == 201, resp.text
    api.wait_lb(lb["id"])
    assert fault(api.put(f"{HMS}/{resp.json()['healthmonitor']['id']}", {"healthmonitor": {"delay": 1}}), 400) == \
        "Validation failure: The request delay value 1 should be larger than 3 for UDP-CONNECT health monitor type."
    assert {h["type"] for h in api.get(HMS).json()["healthmonitors"]} == {"TLS-HELLO", "UDP-CONNECT"}


def test_ping_monitors_can_be_disabled(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    state = str(tmp_path_factory.mktemp("state"))
    with running_controller(sqlite_url, state, api_settings={"allow_ping_health_monitors": False}) as ctl, \
            TestClient(ctl.app) as client:
        api = Api(client)
        # Refused before the pool is even looked up.
        assert fault(api.post(HMS, hm_body(ZERO, type="PING")), 400) == \
            "The selected type is not allowed in this deployment: PING"
        assert fault(api.post(HMS, hm_body(ZERO, type="TCP")), 404) == f"Pool {ZERO} not found."
