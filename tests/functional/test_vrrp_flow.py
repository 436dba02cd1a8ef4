"""ACTIVE_STANDBY in the worker and API: the VRRP group on the amphora rows, keepalived specs handed to the amphora
driver (the noop one records them) on create and LB failover, nothing for SINGLE, and the API's refusal of
ACTIVE_STANDBY with the loopback network driver (no real interfaces for VRRP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ostia.domain.vrrp import VrrpSpec, vrrp_id_for
from tests.support.controller import Api, running_controller

AMPS = "/v2/octavia/amphorae"


@pytest.fixture
def ctl(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state"))) as controller:
        yield controller


@pytest.fixture
def api(ctl: Any) -> Iterator[Api]:
    with TestClient(ctl.app) as client:
        yield Api(client)


def _flavor(api: Api, topology: str) -> str:
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": f"fp-{topology}", "provider_name": "amphora",
        "flavor_data": f'{{"loadbalancer_topology": "{topology}"}}'}}).json()["flavorprofile"]
    flavor = api.post("/v2/lbaas/flavors", {"flavor": {"name": f"f-{topology}",
                                                       "flavor_profile_id": profile["id"]}})
    return str(flavor.json()["flavor"]["id"])


def _vrrp_calls(ctl: Any, since: int = 0) -> list[VrrpSpec]:
    return [args[1] for name, args in ctl.drivers.amphora.calls[since:] if name == "update_vrrp"]


def test_active_standby_create_configures_keepalived_on_both_amphorae(ctl: Any, api: Api) -> None:
    lb = api.create_lb(flavor_id=_flavor(api, "ACTIVE_STANDBY"))
    amps = {a["role"]: a for a in api.get(f"{AMPS}?loadbalancer_id={lb['id']}").json()["amphorae"]}
    assert set(amps) == {"MASTER", "BACKUP"}
    for role, priority in (("MASTER", 100), ("BACKUP", 90)):
        amp = amps[role]
        assert (amp["vrrp_id"], amp["vrrp_priority"], amp["vrrp_interface"]) == (vrrp_id_for(lb["id"]), priority,
                                                                                   "eth1")
        assert amp["vrrp_ip"] and amp["ha_ip"] == lb["vip_address"]
    specs = {s.amphora_id: s for s in _vrrp_calls(ctl)}
    assert set(specs) == {a["id"] for a in amps.values()}
    master, backup = specs[amps["MASTER"]["id"]], specs[amps["BACKUP"]["id"]]
    assert (master.priority, backup.priority) == (100, 90)
    assert master.src_ip == amps["MASTER"]["vrrp_ip"] and master.peer_ips == (amps["BACKUP"]["vrrp_ip"],)
    assert backup.src_ip == amps["BACKUP"]["vrrp_ip"] and backup.peer_ips == (amps["MASTER"]["vrrp_ip"],)
    assert master.vips == backup.vips and master.vips[0].split("/")[0] == lb["vip_address"]
    calls = [name for name, _ in ctl.drivers.amphora.calls]
    # keepalived starts once HAProxy has its configuration on both, and only after both have their keepalived.conf
    assert calls.index("update") < calls.index("update_vrrp") and calls.count("start_vrrp") == 2
    assert max(i for i, n in enumerate(calls) if n == "update_vrrp") < calls.index("start_vrrp")
    # the MASTER starts first, so it is the one that wins the first election
    starts = [args[0] for name, args in ctl.drivers.amphora.calls if name == "start_vrrp"]
    assert starts == [amps["MASTER"]["id"], amps["BACKUP"]["id"]]

    # LB failover: one amphora after the other, the BACKUP first (the MASTER keeps the VIP meanwhile), each
    # replacement built before its predecessor is deleted; new amphorae, the same group.
    before = len(ctl.drivers.amphora.calls)
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.wait_lb(lb["id"])
    new = {a["role"]: a for a in api.get(f"{AMPS}?loadbalancer_id={lb['id']}").json()["amphorae"]
           if a["status"] == "ALLOCATED"}
    assert {a["id"] for a in new.values()}.isdisjoint(a["id"] for a in amps.values())
    calls = ctl.drivers.amphora.calls[before:]
    forgotten = [args[0] for name, args in calls if name == "forget"]
    assert forgotten == [amps["BACKUP"]["id"], amps["MASTER"]["id"]]
    # while the old MASTER was still there, keepalived paired it with the new BACKUP...
    first_round = _vrrp_calls(ctl, before)[:2]
    assert {s.amphora_id for s in first_round} == {amps["MASTER"]["id"], new["BACKUP"]["id"]}
    # ... and at the end the two new ones, each with the other as its peer
    specs = {s.amphora_id: s for s in _vrrp_calls(ctl, before)[-2:]}
    assert set(specs) == {a["id"] for a in new.values()}
    assert specs[new["MASTER"]["id"]].peer_ips == (new["BACKUP"]["vrrp_ip"],)
    assert {s.vrrp_id for s in specs.values()} == {vrrp_id_for(lb["id"])}
    stages = [e["stage"] for e in api.get(f"/v2/lbaas/loadbalancers/{lb['id']}/failover_timeline").json()[
        "failover_timeline"]]
    assert stages == ["TRAFFIC_RESTORED", "REDUNDANCY_RESTORED"] * 2


def test_single_load_balancers_get_no_keepalived(ctl: Any, api: Api) -> None:
    lb = api.create_lb()
    assert lb["provisioning_status"] == "ACTIVE"
    assert _vrrp_calls(ctl) == [] and ("start_vrrp", ()) not in ctl.drivers.amphora.calls
    (amp,) = api.get(f"{AMPS}?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert amp["vrrp_id"] is None and amp["role"] == "STANDALONE"


def test_loopback_network_driver_refuses_active_standby(sqlite_url: str,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    workers = {"network_driver": "loopback", "compute_driver": "noop", "amphora_driver": "noop",
               "loadbalancer_topology": "ACTIVE_STANDBY"}
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state")), controller_worker=workers) as c, \
            TestClient(c.app) as client:
        api = Api(client)
        subnet = api.get("/v2.0/subnets").json()["subnets"][0]["id"]
        resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": subnet}})
        assert resp.status_code == 400, resp.text
        assert "ACTIVE_STANDBY" in resp.json()["faultstring"] and "loopback" in resp.json()["faultstring"]
        assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
        # A SINGLE flavor still works on the same controller.
        resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": subnet,
                                                                     "flavor_id": _flavor(api, "SINGLE")}})
        assert resp.status_code == 201, resp.text
