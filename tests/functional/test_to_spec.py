"""`load_balancer_spec` builds the HAProxy desired state from rows created through the API (SQLite)."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.db.models import HealthMonitor, Listener, Member, Pool
from ostia.db.to_spec import load_balancer_spec
from ostia.domain.errors import NotFound
from ostia.domain.spec import RenderSettings, cert_file_name
from ostia.render.haproxy import render_haproxy
from tests.support import tls_secrets
from tests.support.controller import Api


def _post(api: Api, lb_id: str, path: str, root: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(f"/v2/lbaas/{path}", {root: body})
    assert resp.status_code == 201, resp.text
    api.wait_lb(lb_id)
    return dict(resp.json()[root])


def test_spec_from_api_rows(sqlite_api: Api) -> None:
    api = sqlite_api
    db = api.client.app.state.services.db  # type: ignore[attr-defined]
    refs = tls_secrets.store_refs(api.client.app.state.services)  # type: ignore[attr-defined]
    lb = api.create_lb(name="lb")
    lb_id = lb["id"]
    http = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, "connection_limit": 300,
        "insert_headers": {"X-Forwarded-For": "true"}, "allowed_cidrs": ["10.0.0.0/8"],
        "timeout_client_data": 1234})
    tls = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": refs.cert, "sni_container_refs": [refs.cert2],
        "client_ca_tls_container_ref": refs.ca, "client_authentication": "OPTIONAL", "hsts_max_age": 60})
    udp = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "UDP", "protocol_port": 53})
    down = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 22, "admin_state_up": False})
    pool = _post(api, lb_id, "pools", "pool", {
        "listener_id": http["id"], "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS",
        "session_persistence": {"type": "APP_COOKIE", "cookie_name": "sid"}})
    other = _post(api, lb_id, "pools", "pool", {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "admin_state_up": False})
    m1 = _post(api, lb_id, f"pools/{pool['id']}/members", "member", {
        "address": "192.0.2.1", "protocol_port": 8080, "weight": 5, "monitor_port": 9000})
    m2 = _post(api, lb_id, f"pools/{pool['id']}/members", "member", {
        "address": "192.0.2.2", "protocol_port": 8080, "backup": True, "admin_state_up": False})
    _post(api, lb_id, "healthmonitors", "healthmonitor", {
        "pool_id": pool["id"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
        "url_path": "/hc", "expected_codes": "200-202"})
    pol = _post(api, lb_id, "l7policies", "l7policy", {
        "listener_id": http["id"], "action": "REJECT", "position": 1})
    rule = _post(api, lb_id, f"l7policies/{pol['id']}/rules", "rule", {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/admin", "invert": True})
    empty = _post(api, lb_id, "l7policies", "l7policy", {
        "listener_id": http["id"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": pool["id"], "position": 2})
    to_down = _post(api, lb_id, "l7policies", "l7policy", {
        "listener_id": http["id"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": other["id"]})
    _post(api, lb_id, f"l7policies/{to_down['id']}/rules", "rule", {
        "type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "x.example.com"})

    settings = RenderSettings(cert_dir="/certs")
    with db.session() as session:
        spec = load_balancer_spec(session, lb_id, settings)
    assert spec.vip_addresses == (lb["vip_address"],) and spec.project_id == "p1"
    # UDP (not HAProxy's) and the admin-down listener are left out; order is creation order.
    assert [li.id for li in spec.listeners] == [http["id"], tls["id"]]
    assert udp["id"] not in {li.id for li in spec.listeners} and down["id"] != spec.listeners[1].id
    h, t = spec.listeners
    assert (h.protocol, h.protocol_port, h.connection_limit, h.default_pool_id) == ("HTTP", 80, 300, pool["id"])
    assert h.insert_headers == (("X-Forwarded-For", "true"),) and h.allowed_cidrs == ("10.0.0.0/8",)
    assert h.timeout_client_data == 1234 and h.tls is None
    # Only the policy with an enabled rule and an enabled target survives.
    assert [p.id for p in h.l7policies] == [pol["id"]]
    assert h.l7policies[0].rules[0].id == rule["id"] and h.l7policies[0].rules[0].invert is True
    assert empty["id"] and to_down["id"] not in {p.id for p in h.l7policies}
    assert t.tls is not None and t.hsts is not None and t.hsts.max_age == 60
    d = f"/certs/{lb_id}"
    assert t.tls.crt_list_path == f"{d}/{tls['id']}.crt-list"
    assert t.tls.certificates == (f"{d}/{cert_file_name(refs.cert)}", f"{d}/{cert_file_name(refs.cert2)}")
    assert t.tls.client_ca_path == f"{d}/{cert_file_name(refs.ca)}" and t.tls.client_authentication == "OPTIONAL"
    assert t.tls.versions == ("TLSv1.2", "TLSv1.3")
    # The admin-down pool is not rendered at all; admin-down members are, as disabled servers.
    assert [p.id for p in spec.pools] == [pool["id"]]
    p = spec.pools[0]
    assert p.lb_algorithm == "LEAST_CONNECTIONS" and p.session_persistence is not None
    assert (p.session_persistence.type, p.session_persistence.cookie_name) == ("APP_COOKIE", "sid")
    assert [(m.id, m.weight, m.backup, m.enabled, m.monitor_port) for m in p.members] == [
        (m1["id"], 5, False, True, 9000), (m2["id"], 1, True, False, None)]
    assert p.health_monitor is not None and p.health_monitor.expected_codes == "200-202"

    text = render_haproxy(spec)
    assert f"frontend {http['id']}" in text and f"default_backend {pool['id']}:{http['id']}" in text
    assert f"acl {rule['id']} path -m beg -- /admin" in text and f"http-request deny if !{rule['id']}" in text
    assert f"server {m2['id']} 192.0.2.2:8080 weight 1 check inter 5s fall 3 rise 2 backup disabled" in text
    assert "http-check expect rstatus 200|201|202" in text

    # Objects on their way out disappear from the spec (and an admin-down HM stops checks).
    with db.session() as session:
        session.get(Member, m1["id"]).provisioning_status = "PENDING_DELETE"
        session.get(Listener, tls["id"]).provisioning_status = "PENDING_DELETE"
        hm = session.get(Pool, pool["id"]).health_monitor
        assert isinstance(hm, HealthMonitor)
        hm.admin_state_up = False
        session.flush()
        spec = load_balancer_spec(session, lb_id, settings)
    assert [li.id for li in spec.listeners] == [http["id"]]
    assert [m.id for m in spec.pools[0].members] == [m2["id"]] and spec.pools[0].health_monitor is None

    with db.session() as session, pytest.raises(NotFound):
        load_balancer_spec(session, "00000000-0000-0000-0000-000000000000", settings)
