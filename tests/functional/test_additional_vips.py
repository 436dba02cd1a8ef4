"""Additional VIPs through the API and the worker (real database, real worker threads): the loopback network
driver allocates them on their subnet and the VIP plug hands them to the amphora driver; Octavia's 400s for a
subnet off the VIP network, an unknown subnet and an address outside its subnet; for ACTIVE_STANDBY the
keepalived specs hold every VIP. (tests/e2e/test_additional_vips.py serves traffic on them.)"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.controller import Api, running_controller

NETWORKS = ["public:public-subnet:127.1.0.0/16", "public:public-extra-subnet:127.3.0.0/16",
            "private:private-subnet:127.2.0.0/16"]


@pytest.fixture
def loopback(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Api, dict[str, str]]]:
    workers = {"network_driver": "loopback", "compute_driver": "noop", "amphora_driver": "noop"}
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state")), controller_worker=workers,
                            networking={"networks": NETWORKS}) as ctl, TestClient(ctl.app) as client:
        api = Api(client)
        subnets = {s["name"]: s["id"] for s in api.get("/v2.0/subnets").json()["subnets"]}
        yield ctl, api, subnets


def test_additional_vip_is_allocated_on_its_subnet_and_plugged(loopback: tuple[Any, Api, dict[str, str]]) -> None:
    ctl, api, subnets = loopback
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": subnets["public-subnet"], "additional_vips": [{"subnet_id": subnets["public-extra-subnet"]}]}})
    assert resp.status_code == 201, resp.text
    answered = resp.json()["loadbalancer"]
    lb = api.wait_lb(answered["id"])
    (extra,) = lb["additional_vips"]
    assert answered["additional_vips"] == [extra]  # allocated before the answer, as Octavia's API does
    assert extra["subnet_id"] == subnets["public-extra-subnet"] and extra["port_id"]
    assert ipaddress.ip_address(extra["ip_address"]) in ipaddress.ip_network("127.3.0.0/16")
    ports = {p["id"]: p for p in api.get("/v2.0/ports").json()["ports"]}
    assert ports[extra["port_id"]]["fixed_ips"][0]["ip_address"] == extra["ip_address"]
    # POST /plug/vip carries the additional VIP beside the VIP
    plugs = [args for name, args in ctl.drivers.amphora.calls if name == "post_vip_plug"]
    assert plugs and all(args[1:] == (lb["vip_address"], extra["ip_address"]) for args in plugs)

    asked = api.create_lb(vip_subnet_id=subnets["public-subnet"],
                          additional_vips=[{"subnet_id": subnets["public-extra-subnet"], "ip_address": "127.3.9.9"}])
    assert asked["additional_vips"][0]["ip_address"] == "127.3.9.9"

    api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}")
    api.wait_lb(lb["id"], "DELETED")
    assert extra["port_id"] not in {p["id"] for p in api.get("/v2.0/ports").json()["ports"]}


@pytest.mark.parametrize(("extra", "fault"), [
    ({"subnet_id": "private-subnet"}, "Validation failure: All VIP subnets must belong to the same network."),
    ({"subnet_id": "unknown"}, "not found"),
    ({"subnet_id": "public-extra-subnet", "ip_address": "127.1.0.99"}, "is not in subnet"),
])
def test_bad_additional_vips_are_refused_with_400(loopback: tuple[Any, Api, dict[str, str]], extra: dict[str, str],
                                                 fault: str) -> None:
    _, api, subnets = loopback
    body = dict(extra, subnet_id=subnets.get(extra["subnet_id"], str(uuid.uuid4())))
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": subnets["public-subnet"],
                                                                 "additional_vips": [body]}})
    assert resp.status_code == 400, resp.text
    assert fault in resp.json()["faultstring"]
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []


def test_active_standby_keepalived_specs_hold_every_vip(sqlite_url: str,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    # noop drivers: the network driver accepts any subnet id, so the additional VIP gets a host prefix
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state")),
                            controller_worker={"loadbalancer_topology": "ACTIVE_STANDBY"}) as ctl, \
            TestClient(ctl.app) as client:
        api = Api(client)
        lb = api.create_lb(additional_vips=[{"subnet_id": str(uuid.uuid4()), "ip_address": "198.51.100.200"}])
        specs = [args[1] for name, args in ctl.drivers.amphora.calls if name == "update_vrrp"]
        assert len(specs) == 2
        for spec in specs:
            assert spec.vips[0].split("/")[0] == lb["vip_address"] and spec.vips[1:] == ("198.51.100.200/32",)
