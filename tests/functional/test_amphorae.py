"""The amphora admin API (§2.9): list/show/stats, delete, configuration push and failover of one amphora."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ostia.cli.bootstrap import Controller
from ostia.db.models import Amphora, ListenerStatistics, LoadBalancer
from tests.support.controller import Api, running_controller

AMPS = "/v2/octavia/amphorae"
NIL = "00000000-0000-0000-0000-000000000000"
WIRE_KEYS = {"id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip", "vrrp_port_id",
             "ha_port_id", "cert_expiration", "cert_busy", "role", "status", "vrrp_interface", "vrrp_id",
             "vrrp_priority", "cached_zone", "created_at", "updated_at", "image_id", "compute_flavor"}


def fault(resp: Any) -> tuple[int, str]:
    return resp.status_code, resp.json()["faultstring"]


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition never held"
            return result
        time.sleep(0.05)


def amphorae_of(api: Api, lb_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"{AMPS}?loadbalancer_id={lb_id}").json()["amphorae"])


def test_amphora_admin_api(controller: Controller, api: Api) -> None:
    lb = api.create_lb(name="amp-lb")
    (amp,) = amphorae_of(api, lb["id"])
    # One STANDALONE amphora per SINGLE load balancer, on the wire with `loadbalancer_id`.
    assert set(amp) == WIRE_KEYS
    assert (amp["loadbalancer_id"], amp["role"], amp["status"]) == (lb["id"], "STANDALONE", "ALLOCATED")
    assert amp["compute_id"] and amp["ha_ip"] == lb["vip_address"] and amp["cert_busy"] is False
    assert api.get(f"{AMPS}/{amp['id']}").json() == {"amphora": amp}
    assert api.get(f"{AMPS}/{amp['id']}?fields=id&fields=role").json() == {
        "amphora": {"id": amp["id"], "role": "STANDALONE"}}
    # Filters: any field, plus project_id through the load balancer.
    assert [a["id"] for a in api.get(f"{AMPS}?project_id=p1&role=STANDALONE").json()["amphorae"]] == [amp["id"]]
    assert api.get(f"{AMPS}?project_id=p2").json() == {"amphorae": [], "amphorae_links": []}
    assert fault(api.get(f"{AMPS}?colour=red")) == (400, "One or more arguments are either duplicate or invalid")
    for call in (api.get, api.delete):
        assert fault(call(f"{AMPS}/{NIL}")) == (404, f"Amphora {NIL} not found.")
    for action in ("config", "failover"):
        assert fault(api.put(f"{AMPS}/{NIL}/{action}")) == (404, f"Amphora {NIL} not found.")

    # Stats: one entry per listener row of this amphora; 404 while there are none.
    assert fault(api.get(f"{AMPS}/{amp['id']}/stats")) == (404, f"Amphora stats for {amp['id']} not found.")
    with controller.db.session() as session:
        session.add_all([ListenerStatistics(listener_id="l1", amphora_id=amp["id"], bytes_in=1, bytes_out=2,
                                            active_connections=3, total_connections=4, request_errors=5),
                         ListenerStatistics(listener_id="l2", amphora_id=amp["id"], bytes_in=6, bytes_out=7,
                                            active_connections=8, total_connections=9, request_errors=10)])
    assert api.get(f"{AMPS}/{amp['id']}/stats").json() == {"amphora_stats": [
        {"id": amp["id"], "loadbalancer_id": lb["id"], "listener_id": "l1", "active_connections": 3,
         "bytes_in": 1, "bytes_out": 2, "request_errors": 5, "total_connections": 4},
        {"id": amp["id"], "loadbalancer_id": lb["id"], "listener_id": "l2", "active_connections": 8,
         "bytes_in": 6, "bytes_out": 7, "request_errors": 10, "total_connections": 9}]}

    # Config push: 202, the amphora driver applies the LB's configuration on that amphora.
    amp_driver = controller.drivers.amphora
    resp = api.put(f"{AMPS}/{amp['id']}/config")
    assert (resp.status_code, resp.content) == (202, b"")
    eventually(lambda: amp_driver.calls.count(("update", (lb["id"], [amp["id"]]))) >= 2)  # create + config

    # Delete is only for amphorae in ERROR.
    assert fault(api.delete(f"{AMPS}/{amp['id']}")) == (
        409, f"amphora {amp['id']} is immutable and cannot be updated.")

    # Failover needs the LB ACTIVE.
    with controller.db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"]).values(
            provisioning_status="PENDING_UPDATE"))
    assert fault(api.put(f"{AMPS}/{amp['id']}/failover")) == (
        409, f"Load Balancer {lb['id']} is immutable and cannot be updated.")
    with controller.db.session() as session:
        session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"]).values(
            provisioning_status="ACTIVE"))
    # ...then replaces the amphora: the old one is deleted, a new one with the same role gets the VIP.
    resp = api.put(f"{AMPS}/{amp['id']}/failover")
    assert (resp.status_code, resp.content) == (202, b"")
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]["provisioning_status"] in (
        "PENDING_UPDATE", "ACTIVE")
    eventually(lambda: api.get(f"{AMPS}/{amp['id']}").status_code == 404)
    assert api.wait_lb(lb["id"])["provisioning_status"] == "ACTIVE"
    (new,) = amphorae_of(api, lb["id"])
    assert new["id"] != amp["id"]
    assert (new["role"], new["status"], new["ha_ip"]) == ("STANDALONE", "ALLOCATED", lb["vip_address"])
    assert ("delete", (amp["compute_id"],)) in controller.drivers.compute.calls
    assert ("build", (new["id"], lb["id"])) in controller.drivers.compute.calls
    assert ("update", (lb["id"], [new["id"]])) in amp_driver.calls

    # An amphora in ERROR can be deleted: PENDING_DELETE, then gone.
    with controller.db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == new["id"]).values(status="ERROR"))
    assert api.delete(f"{AMPS}/{new['id']}").status_code == 204
    eventually(lambda: api.get(f"{AMPS}/{new['id']}").status_code == 404)
    assert ("delete", (new["compute_id"],)) in controller.drivers.compute.calls
    assert amphorae_of(api, lb["id"]) == []


def test_amphora_failover_keeps_role_and_reverts_to_error(controller: Controller, api: Api) -> None:
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "ha", "provider_name": "amphora", "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}})
    flavor = api.post("/v2/lbaas/flavors", {"flavor": {"name": "ha", "flavor_profile_id":
                                                       profile.json()["flavorprofile"]["id"]}}).json()["flavor"]
    lb = api.create_lb(flavor_id=flavor["id"])
    by_role = {a["role"]: a for a in amphorae_of(api, lb["id"])}
    assert set(by_role) == {"MASTER", "BACKUP"}
    assert api.put(f"{AMPS}/{by_role['BACKUP']['id']}/failover").status_code == 202
    eventually(lambda: api.get(f"{AMPS}/{by_role['BACKUP']['id']}").status_code == 404)
    api.wait_lb(lb["id"])
    after = {a["role"]: a for a in amphorae_of(api, lb["id"])}
    assert after["MASTER"] == by_role["MASTER"]  # the healthy peer is left alone
    assert after["BACKUP"]["id"] != by_role["BACKUP"]["id"]
    assert after["BACKUP"]["vrrp_priority"] == by_role["BACKUP"]["vrrp_priority"]

    # A failover that cannot build the replacement reverts: LB ERROR, the half-built amphora ERROR.
    compute = controller.drivers.compute

    def broken_build(amphora_id: str, load_balancer_id: str) -> str:
        raise RuntimeError("no capacity")

    compute.build = broken_build  # type: ignore[method-assign]
    assert api.put(f"{AMPS}/{after['MASTER']['id']}/failover").status_code == 202
    assert api.wait_lb(lb["id"], "ERROR")["provisioning_status"] == "ERROR"
    statuses = {a["role"]: a["status"] for a in amphorae_of(api, lb["id"])}
    assert statuses == {"MASTER": "ERROR", "BACKUP": "ALLOCATED"}
    # The LB is no longer ACTIVE: another amphora failover is refused.
    assert fault(api.put(f"{AMPS}/{after['BACKUP']['id']}/failover"))[0] == 409


def test_amphora_api_is_admin_only(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    state = str(tmp_path_factory.mktemp("state"))
    with running_controller(sqlite_url, state, api_settings={"auth_strategy": "testing"}) as ctl, \
            TestClient(ctl.app) as client:
        owner, admin = Api(client, "p1"), Api(client, "ops")
        owner.headers["X-Roles"] = "member"
        admin.headers["X-Roles"] = "load-balancer_admin"
        lb = owner.create_lb()
        (amp,) = amphorae_of(admin, lb["id"])
        denied = (403, "Policy does not allow this request to be performed.")
        # Even the load balancer's owner is refused everything.
        assert fault(owner.get(AMPS)) == denied
        assert fault(owner.get(f"{AMPS}/{amp['id']}")) == denied
        assert fault(owner.get(f"{AMPS}/{amp['id']}/stats")) == denied
        assert fault(owner.put(f"{AMPS}/{amp['id']}/config")) == denied
        assert fault(owner.put(f"{AMPS}/{amp['id']}/failover")) == denied
        assert fault(owner.delete(f"{AMPS}/{amp['id']}")) == denied
        assert admin.get(f"{AMPS}/{amp['id']}").json()["amphora"]["id"] == amp["id"]
        assert admin.put(f"{AMPS}/{amp['id']}/config").status_code == 202
