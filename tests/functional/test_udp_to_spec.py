"""`udp_listener_specs` builds UDP listener specs from rows created through the API (SQLite)."""

from __future__ import annotations

from typing import Any

from ostia.db.models import LoadBalancer, Member, Pool
from ostia.db.to_spec_udp import udp_listener_specs
from ostia.domain.udp import UdpListenerSpec
from tests.support.controller import Api


def _post(api: Api, lb_id: str, path: str, root: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(f"/v2/lbaas/{path}", {root: body})
    assert resp.status_code == 201, resp.text
    api.wait_lb(lb_id)
    return dict(resp.json()[root])


def test_udp_specs_from_api_rows(sqlite_api: Api) -> None:
    api = sqlite_api
    db = api.client.app.state.services.db  # type: ignore[attr-defined]
    lb = api.create_lb(name="udp-lb")
    lb_id = lb["id"]
    udp = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "UDP", "protocol_port": 53, "connection_limit": 500,
        "allowed_cidrs": ["10.1.0.0/16"]})
    _post(api, lb_id, "listeners", "listener", {"loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 53})
    no_pool = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "UDP", "protocol_port": 54})
    down = _post(api, lb_id, "listeners", "listener", {
        "loadbalancer_id": lb_id, "protocol": "UDP", "protocol_port": 55, "admin_state_up": False})
    pool = _post(api, lb_id, "pools", "pool", {
        "listener_id": udp["id"], "protocol": "UDP", "lb_algorithm": "SOURCE_IP",
        "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 60,
                                "persistence_granularity": "255.255.255.0"}})
    _post(api, lb_id, "pools", "pool", {"listener_id": down["id"], "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"})
    m1 = _post(api, lb_id, f"pools/{pool['id']}/members", "member", {
        "address": "192.0.2.1", "protocol_port": 5353, "weight": 5, "monitor_port": 9000})
    m2 = _post(api, lb_id, f"pools/{pool['id']}/members", "member", {
        "address": "192.0.2.2", "protocol_port": 5353, "backup": True, "admin_state_up": False})
    _post(api, lb_id, "healthmonitors", "healthmonitor", {
        "pool_id": pool["id"], "type": "UDP-CONNECT", "delay": 3, "timeout": 2, "max_retries": 2})

    with db.session() as session:
        specs = udp_listener_specs(session.get(LoadBalancer, lb_id))
    # The TCP listener, the pool-less one and the admin-down one are left out.
    assert [s.id for s in specs] == [udp["id"]] and no_pool["id"] != udp["id"]
    s = specs[0]
    assert (s.protocol_port, s.vip_addresses, s.lb_algorithm, s.connection_limit, s.pool_id) == (
        53, (lb["vip_address"],), "SOURCE_IP", 500, pool["id"])
    assert s.allowed_cidrs == ("10.1.0.0/16",)  # Octavia enforces allowed_cidrs on UDP listeners too
    assert s.session_persistence is not None
    assert (s.session_persistence.persistence_timeout, s.session_persistence.persistence_granularity) == (
        60, "255.255.255.0")
    assert [(m.id, m.weight, m.backup, m.enabled, m.monitor_port) for m in s.members] == [
        (m1["id"], 5, False, True, 9000), (m2["id"], 1, True, False, None)]
    assert s.health_monitor is not None and s.health_monitor.type == "UDP-CONNECT"
    assert (s.health_monitor.delay, s.health_monitor.timeout, s.health_monitor.max_retries,
            s.health_monitor.max_retries_down) == (3, 2, 2, 3)
    # What the controller sends is what the agent accepts.
    assert UdpListenerSpec.from_dict(s.to_dict()) == s

    with db.session() as session:
        session.get(Member, m1["id"]).provisioning_status = "PENDING_DELETE"
        hm = session.get(Pool, pool["id"]).health_monitor
        assert hm is not None
        hm.admin_state_up = False
        session.flush()
        specs = udp_listener_specs(session.get(LoadBalancer, lb_id))
    assert [m.id for m in specs[0].members] == [m2["id"]] and specs[0].health_monitor is None
