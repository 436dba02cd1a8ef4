"""Load balancer API against a real database and the real worker (noop drivers)."""

from __future__ import annotations

from tests.conftest import PUBLIC_SUBNET
from tests.support.controller import Api


def test_create_reaches_active_with_offline_operating_status(api: Api) -> None:
    lb = api.create_lb(name="lb1")
    assert lb["provisioning_status"] == "ACTIVE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["vip_subnet_id"] == PUBLIC_SUBNET
    assert lb["tenant_id"] == lb["project_id"] == "p1"
    assert lb["vip_address"]


def test_unknown_attribute_is_rejected(api: Api) -> None:
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, "foo": 1}})
    assert resp.status_code == 400
    assert resp.json() == {"faultcode": "Client", "debuginfo": None,
                           "faultstring": "Unknown attribute for argument loadbalancer: foo"}
    # WSME says "attributes" when there are several.
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, "foo": 1, "bar": 2}})
    assert (resp.status_code, resp.json()["faultstring"]) == (
        400, "Unknown attributes for argument loadbalancer: bar, foo")


def test_delete_soft_deletes_and_hides(api: Api) -> None:
    lb = api.create_lb()
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.wait_lb(lb["id"], "DELETED")
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["faultstring"] == \
        f"Load Balancer {lb['id']} not found."


def test_noauth_create_without_project_uses_the_default_project(sqlite_api: Api) -> None:
    # keystoneauth's `none` plugin sends no project: the embedded default still creates (deviation from §7.2).
    resp = sqlite_api.client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}},
                                  headers={"X-Auth-Token": "notused"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["loadbalancer"]["project_id"] == "default"


def test_noauth_create_without_project_is_400_when_no_default(sqlite_url: str, tmp_path: object) -> None:
    from fastapi.testclient import TestClient

    from tests.support.controller import running_controller

    with running_controller(sqlite_url, str(tmp_path), api_settings={"noauth_default_project": ""}) as ctl, \
            TestClient(ctl.app) as client:
        resp = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}})
    assert resp.status_code == 400
    assert resp.json()["faultstring"] == (
        "Validation failure: Missing project ID in request where one is required. An administrator should check "
        "the keystone settings in the Octavia configuration.")


def test_noop_network_driver_accepts_any_subnet_uuid_and_noop_provider_runs(sqlite_api: Api) -> None:
    # Octavia's noop network driver accepts UUIDs it does not know; so does ours.
    lb = sqlite_api.create_lb(vip_subnet_id="6b4c3c36-4d4e-4b3e-8f33-2d0b4b8d6f00")
    assert lb["vip_subnet_id"] == "6b4c3c36-4d4e-4b3e-8f33-2d0b4b8d6f00" and lb["vip_address"]
    amps = sqlite_api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}").json()["amphorae"]
    assert [a["role"] for a in amps] == ["STANDALONE"]
    # The noop provider runs the same flows without driver calls: no amphora, still ACTIVE.
    noop = sqlite_api.create_lb(provider="noop_driver")
    assert noop["provider"] == "noop_driver"
    assert sqlite_api.get(f"/v2/octavia/amphorae?loadbalancer_id={noop['id']}").json()["amphorae"] == []
    resp = sqlite_api.post("/v2/lbaas/loadbalancers",
                           {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, "provider": "f5"}})
    assert (resp.status_code, resp.json()["faultstring"]) == (400, "Provider 'f5' is not enabled.")


def test_vip_security_groups_exclude_allowed_cidrs_and_sriov_vips(api: Api) -> None:
    sg = "8b7a3b6e-1d2c-4f5e-9a8b-7c6d5e4f3a2b"
    lb = api.create_lb()
    listener = api.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80,
        "allowed_cidrs": ["10.0.0.0/8"]}}).json()["listener"]
    api.wait_lb(lb["id"])
    # From either side: custom VIP security groups and a listener's allowed_cidrs do not go together.
    resp = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"vip_sg_ids": [sg]}})
    assert (resp.status_code, resp.json()["faultstring"]) == (
        400, "Validation failure: Allowed CIDRs are not allowed when using custom VIP Security Groups.")
    after = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert (after["vip_sg_ids"], after["provisioning_status"]) == ([], "ACTIVE")
    assert api.put(f"/v2/lbaas/listeners/{listener['id']}",
                   {"listener": {"allowed_cidrs": None}}).status_code == 200
    api.wait_lb(lb["id"])
    resp = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"vip_sg_ids": [sg]}})
    assert resp.status_code == 200 and resp.json()["loadbalancer"]["vip_sg_ids"] == [sg]
    api.wait_lb(lb["id"])
    resp = api.put(f"/v2/lbaas/listeners/{listener['id']}", {"listener": {"allowed_cidrs": ["10.0.0.0/8"]}})
    assert (resp.status_code, resp.json()["faultstring"]) == (
        400, "Validation failure: Allowed CIDRs are not allowed when using custom VIP Security Groups.")

    # An SR-IOV VIP (flavor sriov_vip) has no security groups to set.
    profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "sriov", "provider_name": "amphora", "flavor_data": '{"sriov_vip": true}'}}).json()["flavorprofile"]
    flavor = api.post("/v2/lbaas/flavors", {"flavor": {"name": "sriov", "flavor_profile_id": profile["id"]}}).json()
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": PUBLIC_SUBNET, "flavor_id": flavor["flavor"]["id"], "vip_sg_ids": [sg]}})
    assert (resp.status_code, resp.json()["faultstring"]) == (
        400, "Validation failure: VIP Security Groups are not supported with SR-IOV (vnic_type direct) VIPs.")
