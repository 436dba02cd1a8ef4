"""Providers and their flavor / availability zone capabilities (§2.10)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.controller import Api, running_controller

PROVIDERS = "/v2/lbaas/providers"
AMPHORA_FLAVOR_KEYS = ["loadbalancer_topology", "compute_flavor", "amp_image_tag", "sriov_vip", "allow_member_sriov"]
AMPHORA_AZ_KEYS = ["compute_zone", "volume_zone", "management_network", "valid_vip_networks"]


def test_providers_and_capabilities(sqlite_api: Api) -> None:
    api = sqlite_api
    # The enabled providers of [api_settings] enabled_provider_drivers, with `fields`.
    providers = api.get(PROVIDERS).json()["providers"]
    assert {p["name"] for p in providers} == {"amphora", "octavia", "noop_driver"}
    assert {p["name"]: p["description"] for p in providers}["amphora"] == "The Octavia Amphora driver."
    assert api.get(f"{PROVIDERS}?fields=name").json() == {"providers": [{"name": p["name"]} for p in providers]}

    # Capabilities of the amphora driver (also under its alias "octavia").
    caps = api.get(f"{PROVIDERS}/amphora/flavor_capabilities").json()["flavor_capabilities"]
    assert [c["name"] for c in caps] == AMPHORA_FLAVOR_KEYS
    assert all(c["description"] for c in caps)
    assert api.get(f"{PROVIDERS}/octavia/flavor_capabilities").json()["flavor_capabilities"] == caps
    az_caps = api.get(f"{PROVIDERS}/amphora/availability_zone_capabilities").json()
    assert [c["name"] for c in az_caps["availability_zone_capabilities"]] == AMPHORA_AZ_KEYS
    assert [c["name"] for c in api.get(f"{PROVIDERS}/noop_driver/flavor_capabilities").json()[
        "flavor_capabilities"]] == ["some_topology"]

    # Exact-match filters on name and description, and fields.
    topo = api.get(f"{PROVIDERS}/amphora/flavor_capabilities?name=loadbalancer_topology").json()
    assert topo == {"flavor_capabilities": [caps[0]]}
    resp = api.get(f"{PROVIDERS}/amphora/flavor_capabilities", params={"description": caps[1]["description"]})
    assert resp.json() == {"flavor_capabilities": [caps[1]]}
    assert api.get(f"{PROVIDERS}/amphora/flavor_capabilities?name=loadbalancer").json() == {
        "flavor_capabilities": []}
    only = api.get(f"{PROVIDERS}/amphora/availability_zone_capabilities?fields=name&name=compute_zone").json()
    assert only == {"availability_zone_capabilities": [{"name": "compute_zone"}]}

    # A provider that is not enabled is a 400 on both capability lists.
    for kind in ("flavor_capabilities", "availability_zone_capabilities"):
        resp = api.get(f"{PROVIDERS}/bogus/{kind}")
        assert resp.status_code == 400
        assert resp.json() == {"faultcode": "Client", "faultstring": "Provider 'bogus' is not enabled.",
                               "debuginfo": None}


def test_provider_policies(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Any reader may list providers; the capability lists are admin only (§7.3)."""
    state = str(tmp_path_factory.mktemp("state"))
    overrides = {"auth_strategy": "testing", "enabled_provider_drivers": {"amphora": "Amphorae.", "x": "Unknown."}}
    with running_controller(sqlite_url, state, api_settings=overrides) as ctl, TestClient(ctl.app) as client:
        def as_(roles: str) -> Api:
            api = Api(client, "p1")
            api.headers["X-Roles"] = roles
            return api

        member, reader, admin, nobody = as_("member"), as_("reader"), as_("load-balancer_admin"), as_("")
        expected = {"providers": [{"name": "amphora", "description": "Amphorae."},
                                  {"name": "x", "description": "Unknown."}]}
        for api in (member, reader, admin):
            assert api.get(PROVIDERS).json() == expected
        assert nobody.get(PROVIDERS).status_code == 403
        for kind in ("flavor_capabilities", "availability_zone_capabilities"):
            assert member.get(f"{PROVIDERS}/amphora/{kind}").status_code == 403
            assert admin.get(f"{PROVIDERS}/amphora/{kind}").status_code == 200
            # Enabled in the configuration but no such driver: Octavia's 501.
            resp = admin.get(f"{PROVIDERS}/x/{kind}")
            assert (resp.status_code, resp.json()["faultstring"]) == (501, "Provider 'x' was not found.")
        # Disabled now: noop_driver is not in this deployment's list.
        assert admin.get(f"{PROVIDERS}/noop_driver/flavor_capabilities").status_code == 400
