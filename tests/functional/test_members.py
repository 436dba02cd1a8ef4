"""Member API (§2.4) including the batch update, against a real database and the real worker."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from tests.functional.test_pools import ZERO, create_pool, fault
from tests.support.controller import Api, running_controller


def members_of(api: Api, pool_id: str, query: str = "") -> list[dict[str, Any]]:
    resp = api.get(f"/v2/lbaas/pools/{pool_id}/members{query}")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["members"])


def by_address(members: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(m["address"], m["protocol_port"]): m for m in members}


def test_member_lifecycle_and_validation(api: Api) -> None:
    lb = api.create_lb()
    pool = create_pool(api, lb["id"], name="web")
    other = create_pool(api, lb["id"], name="other")
    path = f"/v2/lbaas/pools/{pool['id']}/members"

    def post(**fields: Any) -> Any:
        return api.post(path, {"member": {"address": "10.0.0.1", "protocol_port": 80, **fields}})

    resp = post(name="m1", tags=["t"], monitor_address="10.9.9.9", monitor_port=8080)
    assert resp.status_code == 201, resp.text
    member = resp.json()["member"]
    assert (member["provisioning_status"], member["operating_status"]) == ("PENDING_CREATE", "NO_MONITOR")
    assert (member["weight"], member["backup"], member["admin_state_up"], member["vnic_type"]) == \
        (1, False, True, "normal")
    assert (member["monitor_address"], member["monitor_port"], member["subnet_id"]) == ("10.9.9.9", 8080, None)
    assert member["tenant_id"] == member["project_id"] == "p1" and member["tags"] == ["t"]
    assert "description" not in member and member["name"] == "m1"
    api.wait_lb(lb["id"])
    got = api.get(f"{path}/{member['id']}").json()["member"]
    assert got["provisioning_status"] == "ACTIVE" and got["operating_status"] == "NO_MONITOR"
    assert api.get(f"/v2/lbaas/pools/{pool['id']}").json()["pool"]["members"] == [{"id": member["id"]}]
    assert api.get(f"{path}/{member['id']}?fields=address").json() == {"member": {"address": "10.0.0.1"}}

    # Validation, each with Octavia's code and message.
    assert fault(post(), 409) == "Another member on this pool is already using ip 10.0.0.1 on protocol_port 80"
    assert fault(post(address="169.254.169.254"), 400) == "169.254.169.254 is not a valid option for member address"
    assert fault(post(address="10.0.0.256"), 400) == \
        "Invalid input for field/attribute address. Value: '10.0.0.256'. Value should be IPv4 or IPv6 format"
    assert fault(post(weight=257), 400) == \
        "Invalid input for field/attribute weight. Value: '257'. Value should be lower or equal to 256"
    assert fault(post(protocol_port=0), 400) == \
        "Invalid input for field/attribute protocol_port. Value: '0'. Value should be greater or equal to 1"
    assert fault(post(monitor_port=70000), 400).endswith("Value should be lower or equal to 65535")
    assert fault(post(description="x"), 400) == "Unknown attribute for argument member: description"
    assert fault(post(subnet_id="nope"), 400).endswith("Value should be UUID format")
    assert fault(post(request_sriov=True, protocol_port=81), 400) == \
        "The load balancer flavor does not allow SR-IOV member ports."
    assert fault(api.post(path, {"member": {"protocol_port": 80}}), 400) == \
        "Invalid input for field/attribute address. Value: 'None'. Mandatory field missing."
    # Numeric strings are accepted like WSME does; IPv6 addresses are normalised.
    resp = post(address="2001:DB8::0:1", protocol_port="8080", weight="0", backup="yes")
    assert resp.status_code == 201, resp.text
    v6 = resp.json()["member"]
    assert (v6["address"], v6["protocol_port"], v6["weight"], v6["backup"]) == ("2001:db8::1", 8080, 0, True)
    api.wait_lb(lb["id"])

    # The parent in the URL: missing pool → plain 404, member of another pool → fault 404.
    missing = api.get(f"/v2/lbaas/pools/{ZERO}/members")
    assert missing.status_code == 404 and missing.json()["message"] == f"Pool {ZERO} not found."
    assert api.post(f"/v2/lbaas/pools/{ZERO}/members", {"member": {"address": "10.0.0.1",
                                                                   "protocol_port": 80}}).status_code == 404
    elsewhere = f"/v2/lbaas/pools/{other['id']}/members/{member['id']}"
    assert fault(api.get(elsewhere), 404) == f"Member {member['id']} not found."
    assert fault(api.put(elsewhere, {"member": {"name": "x"}}), 404) == f"Member {member['id']} not found."
    assert fault(api.delete(elsewhere), 404) == f"Member {member['id']} not found."

    # PUT: null weight/backup go back to the defaults, the address cannot change.
    resp = api.put(f"{path}/{v6['id']}", {"member": {"weight": None, "backup": None, "name": "six", "tags": ["a"],
                                                     "monitor_address": "2001:db8::9", "admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    changed = resp.json()["member"]
    assert changed["provisioning_status"] == "PENDING_UPDATE"
    assert (changed["weight"], changed["backup"], changed["name"], changed["tags"], changed["admin_state_up"]) == \
        (1, False, "six", ["a"], False)
    assert changed["monitor_address"] == "2001:db8::9"
    assert fault(api.put(f"{path}/{v6['id']}", {"member": {"address": "10.1.1.1"}}), 400) == \
        "Unknown attribute for argument member: address"
    api.wait_lb(lb["id"])

    # A health monitor makes new members start OFFLINE.
    hm = api.post("/v2/lbaas/healthmonitors", {"healthmonitor": {"pool_id": pool["id"], "type": "HTTP", "delay": 3,
                                                                 "timeout": 2, "max_retries": 2}})
    assert hm.status_code == 201, hm.text
    api.wait_lb(lb["id"])
    resp = post(protocol_port=90)
    assert resp.json()["member"]["operating_status"] == "OFFLINE"
    api.wait_lb(lb["id"])

    # Delete: PENDING_DELETE, then gone.
    assert api.delete(f"{path}/{member['id']}").status_code == 204
    api.wait_lb(lb["id"])
    assert fault(api.get(f"{path}/{member['id']}"), 404) == f"Member {member['id']} not found."
    assert sorted(m["protocol_port"] for m in members_of(api, pool["id"])) == [90, 8080]


def sriov_flavor(api: Api) -> str:
    resp = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "sriov", "provider_name": "amphora", "flavor_data": '{"allow_member_sriov": true}'}})
    assert resp.status_code == 201, resp.text
    resp = api.post("/v2/lbaas/flavors", {"flavor": {"name": "sriov",
                                                     "flavor_profile_id": resp.json()["flavorprofile"]["id"]}})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["flavor"]["id"])


def test_batch_update_semantics(api: Api) -> None:
    lb = api.create_lb(flavor_id=sriov_flavor(api))
    pool = create_pool(api, lb["id"])
    path = f"/v2/lbaas/pools/{pool['id']}/members"

    def batch(members: list[dict[str, Any]], query: str = "") -> Any:
        return api.put(f"{path}{query}", {"members": members})

    first = [{"address": "10.0.0.1", "protocol_port": 80, "name": "a", "weight": 5, "tags": ["x"]},
             {"address": "10.0.0.2", "protocol_port": 80, "backup": True, "request_sriov": True},
             {"address": "10.0.0.3", "protocol_port": 80, "monitor_port": 9000}]
    resp = batch(first)
    assert resp.status_code == 202 and resp.content == b""
    api.wait_lb(lb["id"])
    members = members_of(api, pool["id"])
    assert [m["address"] for m in members] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]  # request order
    assert {(m["provisioning_status"], m["operating_status"]) for m in members} == {("ACTIVE", "NO_MONITOR")}
    before = by_address(members)
    # The flavor allows SR-IOV member ports; `request_sriov` itself is not echoed.
    assert [m["vnic_type"] for m in members] == ["normal", "direct", "normal"]
    assert "request_sriov" not in members[1]

    # Matched members are updated, omitted POST fields reset to defaults (name/tags left alone), unmatched
    # members deleted, new ones created; an unchanged match is not touched at all.
    resp = batch([{"address": "10.0.0.1", "protocol_port": 80},
                  {"address": "10.0.0.2", "protocol_port": 80, "backup": True},
                  {"address": "10.0.0.4", "protocol_port": 80, "name": "d"}])
    assert resp.status_code == 202  # the PENDING_* statuses are checked in test_pools' busy-worker test
    api.wait_lb(lb["id"])
    now = by_address(members_of(api, pool["id"]))
    assert sorted(now) == [("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.4", 80)]
    one = now[("10.0.0.1", 80)]
    assert (one["weight"], one["name"], one["tags"], one["id"]) == (1, "a", ["x"], before[("10.0.0.1", 80)]["id"])
    assert now[("10.0.0.2", 80)]["updated_at"] == before[("10.0.0.2", 80)]["updated_at"]
    assert now[("10.0.0.4", 80)]["name"] == "d"

    # additive_only: nothing is deleted; name/tags given on a match are applied.
    resp = batch([{"address": "10.0.0.5", "protocol_port": 81},
                  {"address": "10.0.0.1", "protocol_port": 80, "name": "renamed", "tags": ["y", "z"]},
                  {"address": "10.0.0.4", "protocol_port": 80, "weight": 9, "admin_state_up": False}],
                 "?additive_only=true")
    assert resp.status_code == 202
    api.wait_lb(lb["id"])
    now = by_address(members_of(api, pool["id"]))
    assert sorted(now) == [("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.4", 80), ("10.0.0.5", 81)]
    assert (now[("10.0.0.1", 80)]["name"], sorted(now[("10.0.0.1", 80)]["tags"])) == ("renamed", ["y", "z"])
    four = now[("10.0.0.4", 80)]
    assert (four["weight"], four["admin_state_up"], four["name"]) == (9, False, "d")

    # An empty diff answers 202 and changes nothing: no job, the LB never leaves ACTIVE.
    lb_before = api.wait_lb(lb["id"])
    extra = {"10.0.0.2": {"backup": True}, "10.0.0.4": {"weight": 9, "admin_state_up": False}}
    same = [{"address": a, "protocol_port": p, **extra.get(a, {})} for a, p in now]
    assert batch(same).status_code == 202
    assert batch([], "?additive_only=1").status_code == 202
    lb_after = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert (lb_after["provisioning_status"], lb_after["updated_at"]) == ("ACTIVE", lb_before["updated_at"])
    assert by_address(members_of(api, pool["id"])) == now

    # Refusals leave everything as it was.
    dup = [{"address": "10.0.0.9", "protocol_port": 80}, {"address": "10.0.0.9", "protocol_port": 80}]
    assert fault(batch(dup), 400) == "Validation failure: Member must be updated only once in the same request."
    assert fault(batch([{"address": "169.254.169.254", "protocol_port": 80}]), 400) == \
        "169.254.169.254 is not a valid option for member address"
    assert fault(batch([{"address": "10.0.0.1", "protocol_port": 80, "id": ZERO}]), 400) == \
        "Unknown attribute for argument members: id"
    assert fault(api.put(path, {"member": []}), 400) == \
        "Invalid input for field/attribute members. Value: 'None'. Mandatory field missing."
    assert api.put(f"/v2/lbaas/pools/{ZERO}/members", {"members": []}).status_code == 404
    assert by_address(members_of(api, pool["id"])) == now

    # An empty list without additive_only removes every member.
    assert batch([]).status_code == 202
    api.wait_lb(lb["id"])
    assert members_of(api, pool["id"]) == []


def test_large_batch_and_member_listing(api: Api) -> None:
    lb = api.create_lb()
    pool = create_pool(api, lb["id"])
    path = f"/v2/lbaas/pools/{pool['id']}/members"
    members = [{"address": f"10.1.{i // 250}.{i % 250 + 1}", "protocol_port": 80 + i % 2,
                "admin_state_up": i % 10 != 0, "name": f"m{i:04d}", "weight": i % 3}
               for i in range(1000)]
    members[7]["tags"] = ["seven"]
    start = time.perf_counter()
    resp = api.put(path, {"members": members})
    elapsed = time.perf_counter() - start
    assert resp.status_code == 202, resp.text
    assert elapsed < 3.0, f"a 1,000-member batch took {elapsed:.2f}s in the API"
    api.wait_lb(lb["id"])

    # The whole list fits one page; filters are ANDed, booleans lenient.
    page = api.get(f"{path}?limit=1000").json()
    assert len(page["members"]) == 1000 and {m["provisioning_status"] for m in page["members"]} == {"ACTIVE"}
    assert len(members_of(api, pool["id"], "?admin_state_up=false")) == 100
    assert len(members_of(api, pool["id"], "?protocol_port=81&weight=2")) == 166
    assert [m["name"] for m in members_of(api, pool["id"], "?address=10.1.0.8")] == ["m0007"]
    assert [m["name"] for m in members_of(api, pool["id"], "?tags=seven")] == ["m0007"]
    assert members_of(api, pool["id"], "?name=m0003&fields=name&fields=weight") == [{"name": "m0003", "weight": 0}]
    bad = api.get(f"{path}?colour=red")
    assert fault(bad, 400) == "One or more arguments are either duplicate or invalid"

    # Pagination: sorted by name, pages linked by marker; page_reverse goes back.
    first = api.get(f"{path}?limit=3&sort=name:desc").json()
    assert [m["name"] for m in first["members"]] == ["m0999", "m0998", "m0997"]
    assert [link["rel"] for link in first["members_links"]] == ["next"]
    query = parse_qs(urlparse(first["members_links"][0]["href"]).query)
    assert query["marker"] == [first["members"][-1]["id"]] and query["limit"] == ["3"]
    second = api.get(f"{path}?limit=3&sort=name:desc&marker={query['marker'][0]}").json()
    assert [m["name"] for m in second["members"]] == ["m0996", "m0995", "m0994"]
    assert [link["rel"] for link in second["members_links"]] == ["previous", "next"]
    back = api.get(f"{path}?limit=3&sort=name:desc&marker={second['members'][0]['id']}&page_reverse=true").json()
    assert [m["name"] for m in back["members"]] == ["m0999", "m0998", "m0997"]

    # Replacing the list in one go is fast too (1,000 updates, 1,000 deletes avoided: same keys).
    for m in members:
        m["weight"] = 7
    start = time.perf_counter()
    assert api.put(path, {"members": members}).status_code == 202
    assert time.perf_counter() - start < 3.0
    api.wait_lb(lb["id"])
    assert {m["weight"] for m in api.get(f"{path}?limit=1000").json()["members"]} == {7}


def test_quotas_and_policy_for_pools_members_and_monitors(db_url: str,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """auth_strategy=testing: roles from X-Roles, policy and quotas enforced (batch quota = net increase)."""
    quotas = {"default_pool_quota": 1, "default_member_quota": 2, "default_health_monitor_quota": 0}
    with running_controller(db_url, str(tmp_path_factory.mktemp("state")), api_settings={"auth_strategy": "testing"},
                            quotas=quotas) as ctl, TestClient(ctl.app) as client:
        def caller(project: str, *roles: str) -> Api:
            api = Api(client, project)
            api.headers["X-Roles"] = ",".join(roles)
            return api

        owner, reader, stranger = caller("p1", "member"), caller("p1", "reader"), caller("p2", "member")
        lb = owner.create_lb()
        denied = "Policy does not allow this request to be performed."
        body = {"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}
        assert fault(stranger.post("/v2/lbaas/pools", body), 403) == denied
        assert fault(reader.post("/v2/lbaas/pools", body), 403) == denied
        pool = create_pool(owner, lb["id"])
        assert fault(owner.post("/v2/lbaas/pools", body), 403) == "Quota has been met for resources: Pool"
        assert reader.get(f"/v2/lbaas/pools/{pool['id']}").status_code == 200
        assert fault(stranger.get(f"/v2/lbaas/pools/{pool['id']}"), 403) == denied
        assert stranger.get("/v2/lbaas/pools").json()["pools"] == []
        assert [p["id"] for p in reader.get("/v2/lbaas/pools").json()["pools"]] == [pool["id"]]

        path = f"/v2/lbaas/pools/{pool['id']}/members"
        three = [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (1, 2, 3)]
        assert fault(reader.put(path, {"members": three[:1]}), 403) == denied
        assert fault(owner.put(path, {"members": three}), 403) == "Quota has been met for resources: Member"
        assert owner.put(path, {"members": three[:2]}).status_code == 202
        owner.wait_lb(lb["id"])
        assert fault(owner.put(f"{path}?additive_only=true", {"members": three[2:]}), 403) == \
            "Quota has been met for resources: Member"
        # Swapping one member for another is no net increase.
        assert owner.put(path, {"members": three[1:]}).status_code == 202
        owner.wait_lb(lb["id"])
        assert sorted(m["address"] for m in reader.get(path).json()["members"]) == ["10.0.0.2", "10.0.0.3"]
        assert fault(stranger.get(path), 403) == denied
        assert fault(reader.post(path, {"member": three[0]}), 403) == denied
        assert fault(owner.post(path, {"member": three[0]}), 403) == "Quota has been met for resources: Member"

        hm = {"healthmonitor": {"pool_id": pool["id"], "type": "TCP", "delay": 3, "timeout": 2, "max_retries": 2}}
        assert fault(stranger.post("/v2/lbaas/healthmonitors", hm), 403) == denied
        assert fault(owner.post("/v2/lbaas/healthmonitors", hm), 403) == \
            "Quota has been met for resources: Health Monitor"
