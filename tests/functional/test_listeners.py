"""Listener API (§2.2, §3.1, §3.6–§3.9, §4, §5) against every DB backend and the real worker (noop drivers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from ostia.db.models import ListenerStatistics, LoadBalancer, Pool
from ostia.domain import tls
from tests.support import tls_secrets
from tests.support.controller import Api, running_controller

LISTENERS = "/v2/lbaas/listeners"
LBS = "/v2/lbaas/loadbalancers"


def post_listener(api: Api, lb_id: str, **fields: Any) -> Any:
    return api.post(LISTENERS, {"listener": {"loadbalancer_id": lb_id, **fields}})


def create_listener(api: Api, lb_id: str, **fields: Any) -> dict[str, Any]:
    resp = post_listener(api, lb_id, **fields)
    assert resp.status_code == 201, resp.text
    api.wait_lb(lb_id)
    return dict(resp.json()["listener"])


def fault(resp: Any) -> tuple[int, str]:
    body = resp.json()
    assert body.get("faultcode") in ("Client", "Server"), body
    return resp.status_code, body["faultstring"]


def add_pool(controller: Any, lb_id: str, protocol: str) -> str:
    """A pool row straight in the DB: these tests are about listeners, not the pool API."""
    with controller.db.session() as session:
        pool = Pool(load_balancer_id=lb_id, project_id="p1", protocol=protocol, lb_algorithm="ROUND_ROBIN",
                    provisioning_status="ACTIVE", operating_status="ONLINE")
        session.add(pool)
        session.flush()
        return pool.id


def test_create_update_stats_delete(api: Api, controller: Any) -> None:
    lb = api.create_lb(name="lb1")
    resp = post_listener(api, lb["id"], protocol="HTTP", protocol_port=80, name="web", tags=["t1", "t2"])
    assert resp.status_code == 201, resp.text
    listener = resp.json()["listener"]
    assert {k: listener[k] for k in ("provisioning_status", "operating_status", "updated_at")} == {
        "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE", "updated_at": None}
    lid = listener["id"]
    expected = {
        "id": lid, "name": "web", "description": "", "admin_state_up": True, "protocol": "HTTP",
        "protocol_port": 80, "connection_limit": -1, "default_pool_id": None, "default_tls_container_ref": None,
        "sni_container_refs": [], "client_authentication": "NONE", "client_ca_tls_container_ref": None,
        "client_crl_container_ref": None, "insert_headers": {}, "timeout_client_data": 50000,
        "timeout_member_connect": 5000, "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
        "allowed_cidrs": None, "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None,
        "hsts_max_age": None, "hsts_include_subdomains": False, "hsts_preload": False, "project_id": "p1",
        "tenant_id": "p1", "tags": ["t1", "t2"], "l7policies": [], "loadbalancers": [{"id": lb["id"]}]}
    assert {k: listener[k] for k in expected} == expected
    assert set(listener) == set(expected) | {"provisioning_status", "operating_status", "created_at",
                                             "updated_at"}
    assert "T" in listener["created_at"] and not listener["created_at"].endswith("Z")

    active = api.wait_lb(lb["id"])
    assert active["listeners"] == [{"id": lid}]
    got = api.get(f"{LISTENERS}/{lid}").json()["listener"]
    assert (got["provisioning_status"], got["name"]) == ("ACTIVE", "web")
    assert api.get(f"{LISTENERS}/{lid}?fields=name&fields=protocol").json() == {
        "listener": {"name": "web", "protocol": "HTTP"}}

    # PUT answers 200 with the object; changed fields stick, the LB goes PENDING_UPDATE.
    resp = api.put(f"{LISTENERS}/{lid}", {"listener": {
        "name": "renamed", "description": "d", "connection_limit": 100, "timeout_client_data": 1000,
        "timeout_tcp_inspect": 7, "insert_headers": {"X-Forwarded-For": "true"}, "admin_state_up": False,
        "allowed_cidrs": ["10.1.2.3/8", "10.0.0.0/8"], "tags": ["t3"]}})
    assert resp.status_code == 200, resp.text
    upd = resp.json()["listener"]
    assert upd["provisioning_status"] == "PENDING_UPDATE" and upd["updated_at"] is not None
    assert (upd["name"], upd["description"], upd["connection_limit"], upd["timeout_client_data"],
            upd["timeout_tcp_inspect"], upd["insert_headers"], upd["admin_state_up"], upd["allowed_cidrs"],
            upd["tags"]) == ("renamed", "d", 100, 1000, 7, {"X-Forwarded-For": "true"}, False, ["10.0.0.0/8"],
                             ["t3"])
    api.wait_lb(lb["id"])
    # Explicit null resets to the default (and "" for name).
    resp = api.put(f"{LISTENERS}/{lid}", {"listener": {
        "name": None, "connection_limit": None, "timeout_client_data": None, "timeout_tcp_inspect": None,
        "insert_headers": None, "admin_state_up": None, "allowed_cidrs": None}})
    assert resp.status_code == 200, resp.text
    upd = resp.json()["listener"]
    assert (upd["name"], upd["connection_limit"], upd["timeout_client_data"], upd["timeout_tcp_inspect"],
            upd["insert_headers"], upd["admin_state_up"], upd["allowed_cidrs"], upd["description"]) == (
        "", -1, 50000, 0, {}, False, None, "d")
    api.wait_lb(lb["id"])
    for body, message in [
            ({"hsts_max_age": 10}, "Validation failure: The HSTS feature can only be used for listeners using "
                                   "the TERMINATED_HTTPS protocol."),
            ({"hsts_preload": True}, "Validation failure: Cannot enable hsts_include_subdomains or hsts_preload "
                                     "if hsts_max_age was not set as well."),
            ({"default_tls_container_ref": "ref"}, "Validation failure: Certificate container references are "
                                                   "only allowed on TERMINATED_HTTPS protocol listeners."),
            ({"insert_headers": {"X-SSL-Client-CN": "true"}},
             "['X-SSL-Client-CN'] is not a valid option for HTTP protocol listener."),
            ({"protocol": "TCP"}, "Unknown attribute for argument listener: protocol"),
            ({"connection_limit": -2},
             "Invalid input for field/attribute connection_limit. Value: '-2'. Value should be greater or equal "
             "to -1")]:
        assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": body})) == (400, message), body

    # Stats: the sum over the listener's rows (one per amphora); zeros without any.
    assert api.get(f"{LISTENERS}/{lid}/stats").json() == {"stats": dict.fromkeys(
        ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors"), 0)}
    with controller.db.session() as session:
        for amp, n in (("a1", 1), ("a2", 10)):
            session.add(ListenerStatistics(listener_id=lid, amphora_id=amp, bytes_in=n, bytes_out=2 * n,
                                           active_connections=3 * n, total_connections=4 * n,
                                           request_errors=5 * n))
    assert api.get(f"{LISTENERS}/{lid}/stats").json() == {"stats": {
        "bytes_in": 11, "bytes_out": 22, "active_connections": 33, "total_connections": 44, "request_errors": 55}}
    missing = "00000000-0000-0000-0000-000000000001"
    assert fault(api.get(f"{LISTENERS}/{missing}/stats")) == (404, f"Listener {missing} not found.")
    assert fault(api.get(f"{LISTENERS}/{missing}")) == (404, f"Listener {missing} not found.")
    assert fault(api.put(f"{LISTENERS}/{missing}", {"listener": {}})) == (404, f"Listener {missing} not found.")
    assert fault(api.delete(f"{LISTENERS}/{missing}")) == (404, f"Listener {missing} not found.")

    assert api.delete(f"{LISTENERS}/{lid}").status_code == 204
    api.wait_lb(lb["id"])
    assert fault(api.get(f"{LISTENERS}/{lid}")) == (404, f"Listener {lid} not found.")
    assert api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]["listeners"] == []


def test_create_validation(api: Api, controller: Any) -> None:
    lb = api.create_lb()
    lb_id = lb["id"]
    http_pool, udp_pool = add_pool(controller, lb_id, "HTTP"), add_pool(controller, lb_id, "UDP")
    missing = "00000000-0000-0000-0000-000000000002"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"protocol_port": 80}, 400,
         "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing."),
        ({"protocol": "HTTP", "protocol_port": 0}, 400,
         "Invalid input for field/attribute protocol_port. Value: '0'. Value should be greater or equal to 1"),
        ({"protocol": "HTTP", "protocol_port": 65536}, 400, "Invalid input for field/attribute protocol_port. "
                                                            "Value: '65536'. Value should be lower or equal to 65535"),
        ({"protocol": "HTTP", "protocol_port": 80, "timeout_member_data": 2073600001}, 400,
         "Invalid input for field/attribute timeout_member_data. Value: '2073600001'. Value should be lower or "
         "equal to 2073600000"),
        ({"protocol": "HTTP", "protocol_port": 80, "name": 5}, 400,
         "Invalid input for field/attribute name. Value: '5'. Value should be string"),
        ({"protocol": "HTTP", "protocol_port": 80, "bogus": 1}, 400, "Unknown attribute for argument listener: bogus"),
        ({"protocol": "HTTP", "protocol_port": 80, "allowed_cidrs": ["nope"]}, 400,
         "Invalid input for field/attribute allowed_cidrs. Value: 'nope'. Value should be IPv4 or IPv6 CIDR format"),
        ({"protocol": "HTTP", "protocol_port": 80, "allowed_cidrs": ["2001:db8::/32"]}, 400,
         f"Validation failure: CIDR 2001:db8::/32 IP version incompatible with VIP {lb['vip_address']} IP "
         f"version."),
        ({"protocol": "TCP", "protocol_port": 80, "insert_headers": {"X-Forwarded-For": "true"}}, 400,
         "insert-headers is not a valid option for a TCP protocol listener."),
        ({"protocol": "HTTP", "protocol_port": 80, "insert_headers": {"X-Bogus": "true"}}, 400,
         "['X-Bogus'] is not a valid option for insert_headers"),
        ({"protocol": "HTTP", "protocol_port": 80, "insert_headers": {"X-SSL-Client-DN": "true"}}, 400,
         "['X-SSL-Client-DN'] is not a valid option for HTTP protocol listener."),
        ({"protocol": "UDP", "protocol_port": 53, "default_tls_container_ref": "ref"}, 400,
         "Validation failure: UDP protocol listener does not support TLS."),
        ({"protocol": "SCTP", "protocol_port": 53, "sni_container_refs": ["ref"]}, 400,
         "Validation failure: SCTP protocol listener does not support TLS."),
        ({"protocol": "HTTP", "protocol_port": 80, "default_tls_container_ref": "ref"}, 400,
         "Validation failure: Certificate container references are only allowed on TERMINATED_HTTPS protocol "
         "listeners."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443}, 400,
         "Validation failure: An SNI or default certificate container reference must be provided for "
         "TERMINATED_HTTPS protocol listeners."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "client_ca_tls_container_ref": "ca"}, 400,
         "Validation failure: An SNI or default certificate container reference must be provided with a client "
         "CA container reference."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "client_authentication": "MANDATORY"}, 400,
         "Validation failure: Client authentication setting MANDATORY requires a client CA container reference."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "client_crl_container_ref": "crl"}, 400,
         "Validation failure: A client authentication CA reference is required to specify a client "
         "authentication revocation list."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "client_authentication": "SOMETIMES"}, 400,
         "Invalid input for field/attribute client_authentication. Value: 'SOMETIMES'. Value should be one of: "
         "NONE, OPTIONAL or MANDATORY"),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "tls_versions": []}, 400,
         "Validation failure: Empty TLS version list. Either specify at least one TLS version or remove this "
         "parameter to use the default."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "tls_versions": ["TLSv1.2", "TLSv9"]}, 400, "Validation failure: Invalid TLS versions: TLSv9"),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "alpn_protocols": []}, 400,
         "Validation failure: Empty ALPN protocol list. Either specify at least one ALPN protocol or remove this "
         "parameter to use the default."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "alpn_protocols": ["h3"]}, 400,
         "Invalid input for field/attribute alpn_protocols. Value: 'h3'. Value should be one of: h2, http/1.1, "
         "http/1.0"),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "tls_ciphers": "AES128 SHA;"}, 400,
         "Invalid input for field/attribute tls_ciphers. Value: 'AES128 SHA;'. Value should match the pattern "
         + tls.CIPHER_PATTERN),
        ({"protocol": "HTTP", "protocol_port": 80, "hsts_max_age": 100}, 400,
         "Validation failure: The HSTS feature can only be used for listeners using the TERMINATED_HTTPS "
         "protocol."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": "c",
          "hsts_include_subdomains": True}, 400,
         "Validation failure: HSTS configuration options hsts_include_subdomains and hsts_preload only make sense "
         "if hsts_max_age is set as well."),
        ({"protocol": "PROMETHEUS", "protocol_port": 9100, "default_pool_id": http_pool}, 400,
         "Protocol PROMETHEUS listeners cannot have child objects."),
        ({"protocol": "HTTP", "protocol_port": 80, "default_pool_id": udp_pool}, 400,
         "Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'."),
        ({"protocol": "HTTP", "protocol_port": 80, "default_pool_id": missing}, 404, f"Pool {missing} not found."),
    ]
    for body, status, message in cases:
        assert fault(post_listener(api, lb_id, **body)) == (status, message), body
    resp = api.post(LISTENERS, {"listener": {"loadbalancer_id": missing, "protocol": "HTTP", "protocol_port": 80}})
    assert fault(resp) == (404, f"Load Balancer {missing} not found.")
    resp = api.post(LISTENERS, {"listener": {"loadbalancer_id": "x", "protocol": "HTTP", "protocol_port": 80}})
    assert fault(resp) == (400, "Invalid input for field/attribute loadbalancer_id. Value: 'x'. Value should be "
                                "UUID format")
    bad_protocol = post_listener(api, lb_id, protocol="FTP", protocol_port=21)
    assert fault(bad_protocol)[1].startswith("Invalid input for field/attribute protocol. Value: 'FTP'. Value "
                                             "should be one of: HTTP, ")
    # None of the refused requests left anything behind or touched the LB.
    assert api.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE"
    assert api.get(f"{LISTENERS}?loadbalancer_id={lb_id}").json()["listeners"] == []

    # TERMINATED_HTTPS gets the TLS defaults; CIDRs are normalised and de-duplicated; HSTS on.
    refs = tls_secrets.store_refs(controller)
    https = create_listener(api, lb_id, protocol="TERMINATED_HTTPS", protocol_port=443,
                            default_tls_container_ref=refs.cert, sni_container_refs=[refs.cert2, refs.cert],
                            client_ca_tls_container_ref=refs.ca, client_crl_container_ref=refs.crl,
                            client_authentication="OPTIONAL", insert_headers={"X-SSL-Client-CN": "true"},
                            allowed_cidrs=["10.9.8.7/8", "10.0.0.0/8", "192.168.0.0/16"], hsts_max_age=300,
                            hsts_include_subdomains=True, default_pool_id=http_pool)
    assert (https["tls_ciphers"], https["tls_versions"], https["alpn_protocols"]) == (
        tls.DEFAULT_CIPHERS, ["TLSv1.2", "TLSv1.3"], ["h2", "http/1.1", "http/1.0"])
    assert (https["sni_container_refs"], https["client_authentication"], https["allowed_cidrs"],
            https["hsts_max_age"], https["hsts_include_subdomains"], https["hsts_preload"],
            https["default_pool_id"]) == ([refs.cert2, refs.cert], "OPTIONAL", ["10.0.0.0/8", "192.168.0.0/16"],
                                          300, True, False, http_pool)
    # Ports are unique per L4 family: HTTP 443 collides with TERMINATED_HTTPS 443, UDP/SCTP 443 do not.
    assert fault(post_listener(api, lb_id, protocol="HTTP", protocol_port=443)) == (
        409, "Another Listener on this Load Balancer is already using protocol TERMINATED_HTTPS and protocol_port 443")
    udp = create_listener(api, lb_id, protocol="UDP", protocol_port=443, default_pool_id=udp_pool)
    assert (udp["tls_ciphers"], udp["tls_versions"], udp["alpn_protocols"], udp["default_pool_id"]) == (
        None, None, None, udp_pool)
    # The amphora provider cannot serve SCTP (501 before anything is written).
    assert fault(post_listener(api, lb_id, protocol="SCTP", protocol_port=443)) == (
        501, "Provider 'amphora' does not support a requested option: Amphora provider does not support SCTP "
             "protocol listeners.")
    assert fault(post_listener(api, lb_id, protocol="UDP", protocol_port=443)) == (
        409, "Another Listener on this Load Balancer is already using protocol UDP and protocol_port 443")
    prom = create_listener(api, lb_id, protocol="PROMETHEUS", protocol_port=9100)
    assert fault(api.put(f"{LISTENERS}/{prom['id']}", {"listener": {"default_pool_id": http_pool}})) == (
        400, "Protocol PROMETHEUS listeners cannot have child objects.")
    assert fault(api.post("/v2/lbaas/l7policies", {"l7policy": {"listener_id": prom["id"], "action": "REJECT"}})) \
        == (400, "Protocol PROMETHEUS listeners cannot have child objects.")

    # PUT on the TLS listener: null TLS settings come back as the defaults; cross-field rules see stored values.
    resp = api.put(f"{LISTENERS}/{https['id']}", {"listener": {
        "tls_versions": ["TLSv1.3"], "tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256", "alpn_protocols": ["h2"],
        "hsts_preload": True, "default_pool_id": None}})
    assert resp.status_code == 200, resp.text
    upd = resp.json()["listener"]
    assert (upd["tls_versions"], upd["tls_ciphers"], upd["alpn_protocols"], upd["hsts_preload"],
            upd["default_pool_id"]) == (["TLSv1.3"], "ECDHE-RSA-AES128-GCM-SHA256", ["h2"], True, None)
    api.wait_lb(lb_id)
    resp = api.put(f"{LISTENERS}/{https['id']}", {"listener": {
        "tls_versions": None, "tls_ciphers": None, "alpn_protocols": None, "client_authentication": None}})
    upd = resp.json()["listener"]
    assert (upd["tls_versions"], upd["tls_ciphers"], upd["alpn_protocols"], upd["client_authentication"]) == (
        ["TLSv1.2", "TLSv1.3"], tls.DEFAULT_CIPHERS, ["h2", "http/1.1", "http/1.0"], "NONE")
    api.wait_lb(lb_id)
    assert fault(api.put(f"{LISTENERS}/{https['id']}", {"listener": {"client_ca_tls_container_ref": None}})) == (
        400, "Validation failure: A client authentication CA reference is required to specify a client "
             "authentication revocation list.")
    assert fault(api.put(f"{LISTENERS}/{https['id']}", {"listener": {"default_pool_id": udp_pool}})) == (
        400, "Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is "
             "'TERMINATED_HTTPS'.")


def test_listing_filters_sort_and_pagination(api: Api, controller: Any) -> None:
    lb = api.create_lb()
    other = api.create_lb()
    made = [create_listener(api, lb["id"], protocol="HTTP", protocol_port=80, name="a", tags=["x"]),
            create_listener(api, lb["id"], protocol="TCP", protocol_port=81, name="b", admin_state_up=False),
            create_listener(api, other["id"], protocol="UDP", protocol_port=82, name="c", tags=["x", "y"])]
    ids = {x["name"]: x["id"] for x in made}

    def names(query: str) -> list[str]:
        resp = api.get(f"{LISTENERS}{query}")
        assert resp.status_code == 200, resp.text
        return [x["name"] for x in resp.json()["listeners"]]

    assert names("") == ["a", "b", "c"]
    assert names(f"?loadbalancer_id={lb['id']}") == ["a", "b"]
    assert names("?protocol=UDP") == ["c"]
    assert names("?protocol_port=81") == ["b"]
    assert names("?admin_state_up=false") == ["b"]
    assert names("?tags=x") == ["a", "c"] and names("?tags=x,y") == ["c"] and names("?not-tags=x") == ["b"]
    assert names("?project_id=p2") == []
    assert names("?sort=protocol_port:desc") == ["c", "b", "a"]
    assert names("?sort_key=name&sort_dir=desc") == ["c", "b", "a"]
    assert api.get(f"{LISTENERS}?fields=id&name=a").json() == {"listeners": [{"id": ids["a"]}],
                                                                 "listeners_links": []}
    assert fault(api.get(f"{LISTENERS}?colour=red")) == (400, "One or more arguments are either duplicate or "
                                                              "invalid")
    assert fault(api.get(f"{LISTENERS}?sort=colour")) == (400, "Supplied sort key 'colour' is not valid.")
    page = api.get(f"{LISTENERS}?limit=2&sort=name:asc").json()
    assert [x["name"] for x in page["listeners"]] == ["a", "b"]
    (nxt,) = page["listeners_links"]
    assert nxt["rel"] == "next"
    assert parse_qs(urlparse(nxt["href"]).query) == {"limit": ["2"], "sort": ["name:asc"], "marker": [ids["b"]]}
    page2 = api.get(f"{LISTENERS}?limit=2&sort=name:asc&marker={ids['b']}").json()
    assert [x["name"] for x in page2["listeners"]] == ["c"]
    assert [link["rel"] for link in page2["listeners_links"]] == ["previous"]
    assert fault(api.get(f"{LISTENERS}?marker=00000000-0000-0000-0000-000000000000")) == (
        400, "Supplied pagination marker '00000000-0000-0000-0000-000000000000' is not valid.")
    # The /v2.0 alias serves the same collection.
    assert [x["id"] for x in api.get("/v2.0/lbaas/listeners").json()["listeners"]] == [
        ids["a"], ids["b"], ids["c"]]


def add_active_lb(controller: Any) -> str:
    """An ACTIVE amphora LB row straight in the DB (its create flow would sleep in every noop call)."""
    with controller.db.session() as session:
        lb = LoadBalancer(project_id="p1", provisioning_status="ACTIVE", operating_status="ONLINE",
                          provider="amphora", vip_address="198.51.100.7",
                          vip_subnet_id="d05a7bde-cca3-5925-ad49-7a8b3df07363")
        session.add(lb)
        session.flush()
        return lb.id


@pytest.fixture
def slow_api(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Any]]:
    """A controller whose noop drivers sleep 1 s per call: a child change keeps its LB PENDING_UPDATE that long."""
    with running_controller(db_url, str(tmp_path_factory.mktemp("state")),
                            controller_worker={"noop_task_delay": 1.0}) as ctl, TestClient(ctl.app) as client:
        yield Api(client), ctl


def test_pending_load_balancer_is_immutable(slow_api: tuple[Api, Any]) -> None:
    api, controller = slow_api
    lb_id = add_active_lb(controller)
    resp = post_listener(api, lb_id, protocol="HTTP", protocol_port=80)
    assert resp.status_code == 201, resp.text
    lid = resp.json()["listener"]["id"]
    # While the provider works, the LB is PENDING_UPDATE and every child change on it is a 409.
    assert api.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    assert api.get(f"{LISTENERS}/{lid}").json()["listener"]["provisioning_status"] == "PENDING_CREATE"
    immutable = (409, f"Load Balancer {lb_id} is immutable and cannot be updated.")
    assert fault(post_listener(api, lb_id, protocol="HTTP", protocol_port=81)) == immutable
    assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": {"name": "x"}})) == immutable
    assert fault(api.delete(f"{LISTENERS}/{lid}")) == immutable
    assert fault(api.post("/v2/lbaas/l7policies", {"l7policy": {"listener_id": lid, "action": "REJECT"}})) == \
        immutable
    # Semantic listener checks run after the lock, so on a busy LB they also surface as 409.
    assert fault(post_listener(api, lb_id, protocol="HTTP", protocol_port=80)) == immutable
    api.wait_lb(lb_id)
    assert api.get(f"{LISTENERS}/{lid}").json()["listener"]["provisioning_status"] == "ACTIVE"

    # A policy create marks the listener and the LB PENDING_UPDATE; rules then wait for the policy.
    resp = api.post("/v2/lbaas/l7policies", {"l7policy": {"listener_id": lid, "action": "REJECT"}})
    assert resp.status_code == 201, resp.text
    pid = resp.json()["l7policy"]["id"]
    assert api.get(f"{LISTENERS}/{lid}").json()["listener"]["provisioning_status"] == "PENDING_UPDATE"
    assert api.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    rule = {"rule": {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"}}
    assert fault(api.post(f"/v2/lbaas/l7policies/{pid}/rules", rule)) == (
        409, f"L7Policy {pid} is immutable and cannot be updated.")
    api.wait_lb(lb_id)
    resp = api.post(f"/v2/lbaas/l7policies/{pid}/rules", rule)
    assert resp.status_code == 201, resp.text
    assert api.get(f"/v2/lbaas/l7policies/{pid}").json()["l7policy"]["provisioning_status"] == "PENDING_UPDATE"
    assert api.get(f"{LISTENERS}/{lid}").json()["listener"]["provisioning_status"] == "PENDING_UPDATE"
    api.wait_lb(lb_id)
    # Deletes: the object PENDING_DELETE, its parents PENDING_UPDATE, then gone.
    rid = resp.json()["rule"]["id"]
    assert api.delete(f"/v2/lbaas/l7policies/{pid}/rules/{rid}").status_code == 204
    assert api.get(f"/v2/lbaas/l7policies/{pid}/rules/{rid}").json()["rule"]["provisioning_status"] == \
        "PENDING_DELETE"
    assert api.get(f"/v2/lbaas/l7policies/{pid}").json()["l7policy"]["provisioning_status"] == "PENDING_UPDATE"
    api.wait_lb(lb_id)
    assert api.delete(f"/v2/lbaas/l7policies/{pid}").status_code == 204
    assert api.get(f"/v2/lbaas/l7policies/{pid}").json()["l7policy"]["provisioning_status"] == "PENDING_DELETE"
    assert api.get(f"{LISTENERS}/{lid}").json()["listener"]["provisioning_status"] == "PENDING_UPDATE"
    api.wait_lb(lb_id)
    assert api.delete(f"{LISTENERS}/{lid}").status_code == 204
    assert api.get(f"{LISTENERS}/{lid}").json()["listener"]["provisioning_status"] == "PENDING_DELETE"
    assert api.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    api.wait_lb(lb_id)
    assert api.get(f"{LISTENERS}/{lid}").status_code == 404
    lid = create_listener(api, lb_id, protocol="HTTP", protocol_port=80)["id"]
    # An LB in ERROR refuses child changes the same way.
    with controller.db.session() as session:
        session.get_one(LoadBalancer, lb_id).provisioning_status = "ERROR"
    assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": {"name": "x"}})) == immutable


def test_protocols_disabled_by_configuration(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`allow_tls_terminated_listeners` / `allow_prometheus_listeners` off: 400 (config, not the DB: SQLite only)."""
    settings = {"allow_tls_terminated_listeners": False, "allow_prometheus_listeners": False,
                "tls_cipher_prohibit_list": "RC4-MD5:DES-CBC3-SHA", "minimum_tls_version": "TLSv1.2"}
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state")), api_settings=settings) as ctl, \
            TestClient(ctl.app) as client:
        api = Api(client)
        lb_id = add_active_lb(ctl)
        https = {"protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                 "default_tls_container_ref": tls_secrets.store_refs(ctl).cert}
        assert fault(post_listener(api, lb_id, **https)) == (
            400, "The selected protocol is not allowed in this deployment: TERMINATED_HTTPS")
        assert fault(post_listener(api, lb_id, protocol="PROMETHEUS", protocol_port=9100)) == (
            400, "The selected protocol is not allowed in this deployment: PROMETHEUS")
        lid = create_listener(api, lb_id, protocol="HTTP", protocol_port=80)["id"]
        assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": {"tls_versions": ["TLSv1.1", "TLSv1.3"]}})) == (
            400, "Validation failure: Requested TLS versions are less than the minimum: TLSv1.1 < TLSv1.2")
        assert fault(api.put(f"{LISTENERS}/{lid}", {"listener": {"tls_ciphers": "HIGH:RC4-MD5"}})) == (
            400, "Validation failure: The following ciphers have been prohibited by an administrator: RC4-MD5")
