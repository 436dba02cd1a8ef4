"""Flavors, flavor profiles, availability zones and AZ profiles (§2.11), with their in-use locks."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.support.controller import Api, running_controller

FLAVORS = "/v2/lbaas/flavors"
FPS = "/v2/lbaas/flavorprofiles"
AZS = "/v2/lbaas/availabilityzones"
AZPS = "/v2/lbaas/availabilityzoneprofiles"
NIL = "00000000-0000-0000-0000-000000000000"


def fault(resp: object) -> tuple[int, str]:
    return resp.status_code, resp.json()["faultstring"]  # type: ignore[attr-defined]


def test_flavor_profiles_and_flavors(api: Api) -> None:
    data = json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY", "compute_flavor": "m1.amphora"})
    resp = api.post(FPS, {"flavorprofile": {"name": "ha", "provider_name": "amphora", "flavor_data": data}})
    assert resp.status_code == 201
    profile = resp.json()["flavorprofile"]
    assert profile == {"id": profile["id"], "name": "ha", "provider_name": "amphora", "flavor_data": data}

    # flavor_data: a JSON object string, checked by the provider's driver (the amphora driver is strict,
    # reporting an unsupported option as Octavia does: 501); the provider must be enabled.
    def post_profile(provider: str, flavor_data: str) -> object:
        return api.post(FPS, {"flavorprofile": {"name": "x", "provider_name": provider, "flavor_data": flavor_data}})

    unsupported = "Provider 'amphora' does not support a requested option: "
    for provider, flavor_data, expected in (
            ("amphora", "{bad", (400, "{bad is not a valid option for flavor_data")),
            ("amphora", "[1]", (400, "[1] is not a valid option for flavor_data")),
            ("amphora", '{"bogus": 1}',
             (501, unsupported + "Additional properties are not allowed ('bogus' was unexpected)")),
            ("amphora", '{"loadbalancer_topology": "TRIPLE"}',
             (501, unsupported + "loadbalancer_topology 'TRIPLE' is not one of ['ACTIVE_STANDBY', 'SINGLE']")),
            ("octavia", '{"sriov_vip": "yes"}', (501, "Provider 'octavia' does not support a requested option: "
                                                      "sriov_vip 'yes' is not of type 'boolean'")),
            ("nope", "{}", (400, "Provider 'nope' is not enabled."))):
        assert fault(post_profile(provider, flavor_data)) == expected, flavor_data
    resp = api.post(FPS, {"flavorprofile": {"name": "x", "provider_name": "amphora"}})
    assert fault(resp) == (400, "Invalid input for field/attribute flavor_data. Value: 'None'. "
                                "Mandatory field missing.")
    # The noop driver takes any metadata, as Octavia's does.
    noop = api.post(FPS, {"flavorprofile": {"name": "n", "provider_name": "noop_driver",
                                            "flavor_data": '{"anything": [1, 2]}'}})
    assert noop.status_code == 201
    listed = api.get(f"{FPS}?fields=name&sort=name:asc").json()
    assert listed == {"flavorprofiles": [{"name": "ha"}, {"name": "n"}], "flavorprofile_links": []}

    # Flavors: name unique, profile must exist, description "" when unset.
    resp = api.post(FLAVORS, {"flavor": {"name": "gold", "flavor_profile_id": profile["id"]}})
    assert resp.status_code == 201
    flavor = resp.json()["flavor"]
    assert flavor == {"id": flavor["id"], "name": "gold", "description": "", "enabled": True,
                      "flavor_profile_id": profile["id"]}
    resp = api.post(FLAVORS, {"flavor": {"name": "gold", "flavor_profile_id": noop.json()["flavorprofile"]["id"]}})
    assert fault(resp) == (409, "A flavor of gold already exists.")
    assert fault(api.post(FLAVORS, {"flavor": {"name": "x", "flavor_profile_id": NIL}})) == (
        400, "Validation failure: Invalid flavor_profile_id.")
    assert fault(api.post(FLAVORS, {"flavor": {"name": "x", "flavor_profile_id": "bogus"}})) == (
        400, "Invalid input for field/attribute flavor_profile_id. Value: 'bogus'. Value should be UUID format")
    assert fault(api.get(f"{FLAVORS}/{NIL}")) == (404, f"Flavor {NIL} not found.")
    assert fault(api.get(f"{FPS}/{NIL}")) == (404, f"Flavor Profile {NIL} not found.")
    resp = api.put(f"{FLAVORS}/{flavor['id']}", {"flavor": {"description": "fast", "enabled": False}})
    assert resp.status_code == 200 and resp.json()["flavor"]["description"] == "fast"
    assert api.get(f"{FLAVORS}/{flavor['id']}?fields=enabled").json() == {"flavor": {"enabled": False}}
    assert api.put(f"{FLAVORS}/{flavor['id']}", {"flavor": {"enabled": True}}).json()["flavor"]["enabled"] is True
    assert api.get(FLAVORS).json() == {"flavors": [api.get(f"{FLAVORS}/{flavor['id']}").json()["flavor"]],
                                       "flavors_links": []}

    # A profile in use by a flavor: name may change, provider and data may not, and it cannot go.
    fp_path = f"{FPS}/{profile['id']}"
    in_use = (409, f"Flavor profile {profile['id']} is in use and cannot be modified.")
    assert fault(api.put(fp_path, {"flavorprofile": {"flavor_data": "{}"}})) == in_use
    assert fault(api.put(fp_path, {"flavorprofile": {"provider_name": "octavia"}})) == in_use
    assert fault(api.delete(fp_path)) == in_use
    assert fault(api.put(fp_path, {"flavorprofile": {"name": None}})) == (400, "None is not a valid option for name")
    assert api.put(fp_path, {"flavorprofile": {"name": "ha2"}}).json()["flavorprofile"]["name"] == "ha2"

    # A flavor used by a live load balancer cannot be deleted; once the LB is gone it can.
    lb = api.create_lb(flavor_id=flavor["id"])
    amphorae = api.get(f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}&sort=role:desc").json()["amphorae"]
    assert [a["role"] for a in amphorae] == ["MASTER", "BACKUP"]  # the flavor's ACTIVE_STANDBY topology
    assert fault(api.delete(f"{FLAVORS}/{flavor['id']}")) == (
        409, f"Flavor {flavor['id']} is in use and cannot be modified.")
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.wait_lb(lb["id"], "DELETED")
    assert api.delete(f"{FLAVORS}/{flavor['id']}").status_code == 204
    assert api.get(f"{FLAVORS}/{flavor['id']}").status_code == 404
    # Free again: the data can change (validated against the provider) and the profile can go.
    assert fault(api.put(fp_path, {"flavorprofile": {"flavor_data": '{"x": 1}'}}))[0] == 501
    resp = api.put(fp_path, {"flavorprofile": {"flavor_data": '{"loadbalancer_topology": "SINGLE"}'}})
    assert resp.json()["flavorprofile"]["flavor_data"] == '{"loadbalancer_topology": "SINGLE"}'
    assert api.delete(fp_path).status_code == 204
    assert fault(api.delete(fp_path)) == (404, f"Flavor Profile {profile['id']} not found.")


def test_availability_zones_and_profiles(api: Api) -> None:
    data = json.dumps({"compute_zone": "nova"})
    resp = api.post(AZPS, {"availability_zone_profile": {"name": "zp", "provider_name": "amphora",
                                                         "availability_zone_data": data}})
    assert resp.status_code == 201
    profile = resp.json()["availability_zone_profile"]
    assert profile == {"id": profile["id"], "name": "zp", "provider_name": "amphora",
                       "availability_zone_data": data}
    for az_data, expected in (
            ('{"compute_zone": 5}', (501, "Provider 'amphora' does not support a requested option: "
                                          "compute_zone 5 is not of type 'string'")),
            ('{"valid_vip_networks": "net"}', (501, "Provider 'amphora' does not support a requested option: "
                                                    "valid_vip_networks 'net' is not of type 'array'")),
            ("nope", (400, "nope is not a valid option for availability_zone_data"))):
        resp = api.post(AZPS, {"availability_zone_profile": {"name": "x", "provider_name": "amphora",
                                                             "availability_zone_data": az_data}})
        assert fault(resp) == expected
    assert api.get(AZPS).json() == {"availability_zone_profiles": [profile], "availability_zone_profile_links": []}

    # Zones are addressed by name and have no id.
    resp = api.post(AZS, {"availability_zone": {"name": "az1", "description": "first",
                                                "availability_zone_profile_id": profile["id"]}})
    assert resp.status_code == 201
    zone = {"name": "az1", "description": "first", "enabled": True, "availability_zone_profile_id": profile["id"]}
    assert resp.json() == {"availability_zone": zone}
    resp = api.post(AZS, {"availability_zone": {"name": "az1", "availability_zone_profile_id": profile["id"]}})
    assert fault(resp) == (409, "A availability zone of az1 already exists.")
    resp = api.post(AZS, {"availability_zone": {"name": "az2", "id": "x", "availability_zone_profile_id": NIL}})
    assert fault(resp) == (400, "Unknown attribute for argument availability_zone: id")
    assert api.get(f"{AZS}/az1").json() == {"availability_zone": zone}
    assert fault(api.get(f"{AZS}/az9")) == (404, "Availability Zone az9 not found.")
    assert api.put(f"{AZS}/az1", {"availability_zone": {"enabled": False}}).json()["availability_zone"][
        "enabled"] is False
    assert fault(api.put(f"{AZS}/az1", {"availability_zone": {"name": "new"}})) == (
        400, "Unknown attribute for argument availability_zone: name")
    # A disabled zone cannot take load balancers; an enabled one can, and is then locked.
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": "d05a7bde-cca3-5925-ad49-7a8b3df07363", "availability_zone": "az1"}})
    assert fault(resp) == (400, "The selected availability_zone is not allowed in this deployment: az1")
    api.put(f"{AZS}/az1", {"availability_zone": {"enabled": True, "description": None}})
    assert api.get(AZS).json() == {"availability_zones": [{**zone, "description": ""}],
                                   "availability_zones_links": []}
    lb = api.create_lb(availability_zone="az1")
    assert lb["availability_zone"] == "az1"
    assert fault(api.delete(f"{AZS}/az1")) == (409, "Availability Zone az1 is in use and cannot be modified.")
    in_use = (409, f"Availability Zone Profile {profile['id']} is in use and cannot be modified.")
    assert fault(api.put(f"{AZPS}/{profile['id']}", {"availability_zone_profile": {"provider_name": "octavia"}})) == \
        in_use
    assert fault(api.delete(f"{AZPS}/{profile['id']}")) == in_use
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.wait_lb(lb["id"], "DELETED")
    assert api.delete(f"{AZS}/az1").status_code == 204
    assert api.get(f"{AZS}/az1").status_code == 404
    assert api.delete(f"{AZPS}/{profile['id']}").status_code == 204
    assert fault(api.get(f"{AZPS}/{profile['id']}")) == (
        404, f"Availability Zone Profile {profile['id']} not found.")


def test_catalog_policies(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Flavors and zones: read by any reader, written by admins; profiles: admins only (§7.3)."""
    state = str(tmp_path_factory.mktemp("state"))
    with running_controller(sqlite_url, state, api_settings={"auth_strategy": "testing"}) as ctl, \
            TestClient(ctl.app) as client:
        admin, member = Api(client, "p1"), Api(client, "p1")
        admin.headers["X-Roles"] = "admin"
        member.headers["X-Roles"] = "load-balancer_member"
        fp = admin.post(FPS, {"flavorprofile": {"name": "f", "provider_name": "noop_driver", "flavor_data": "{}"}})
        fp_id = fp.json()["flavorprofile"]["id"]
        flavor_id = admin.post(FLAVORS, {"flavor": {"name": "f", "flavor_profile_id": fp_id}}).json()["flavor"]["id"]
        azp = admin.post(AZPS, {"availability_zone_profile": {"name": "z", "provider_name": "noop_driver",
                                                              "availability_zone_data": "{}"}})
        azp_id = azp.json()["availability_zone_profile"]["id"]
        assert admin.post(AZS, {"availability_zone": {"name": "z", "availability_zone_profile_id": azp_id}}) \
            .status_code == 201

        assert member.get(FLAVORS).json()["flavors"][0]["id"] == flavor_id
        assert member.get(f"{FLAVORS}/{flavor_id}").status_code == 200
        assert member.get(f"{AZS}/z").status_code == 200
        assert member.get(AZS).status_code == 200
        denied = (403, "Policy does not allow this request to be performed.")
        for path in (FPS, f"{FPS}/{fp_id}", AZPS, f"{AZPS}/{azp_id}"):
            assert fault(member.get(path)) == denied, path
        assert fault(member.post(FLAVORS, {"flavor": {"name": "g", "flavor_profile_id": fp_id}})) == denied
        assert fault(member.put(f"{FLAVORS}/{flavor_id}", {"flavor": {"enabled": False}})) == denied
        assert fault(member.delete(f"{AZS}/z")) == denied
        assert fault(member.put(f"{FPS}/{fp_id}", {"flavorprofile": {"name": "g"}})) == denied
        assert fault(member.delete(f"{AZPS}/{azp_id}")) == denied
        assert admin.delete(f"{FLAVORS}/{flavor_id}").status_code == 204
