"""Quotas (§2.8, §6): wire forms, reset semantics, and — in "testing" auth mode, where policies and quotas
are enforced — the 403 on a full quota and the policy decision per role (§7.3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PUBLIC_SUBNET
from tests.support.controller import Api, running_controller

QUOTAS = "/v2/lbaas/quotas"
DENIED = {"faultcode": "Client", "faultstring": "Policy does not allow this request to be performed.",
          "debuginfo": None}


def quota(project: str, **values: int | None) -> dict[str, object]:
    """The full wire form: both spellings, project and tenant; unnamed fields are -1 (unlimited default)."""
    full = {f: values.get(f, -1) for f in ("load_balancer", "listener", "pool", "health_monitor", "member",
                                            "l7policy", "l7rule")}
    return {**full, "loadbalancer": full["load_balancer"], "healthmonitor": full["health_monitor"],
            "project_id": project, "tenant_id": project}


def test_quota_show_update_list_and_reset(api: Api) -> None:
    # Nothing stored yet: the list is empty, a project shows the defaults (all -1 out of the box).
    assert api.get(QUOTAS).json() == {"quotas": [], "quotas_links": []}
    assert api.get(f"{QUOTAS}/p9").json() == {"quota": quota("p9")}
    assert api.get(f"{QUOTAS}/defaults").json() == {"quota": quota("defaults")}
    assert api.get(f"{QUOTAS}/p9/default").json() == {"quota": quota("p9")}

    # PUT takes either spelling (Octavia's wins when both are sent), numeric strings, and answers 202.
    resp = api.put(f"{QUOTAS}/p9", {"quota": {"loadbalancer": 5, "load_balancer": 9, "health_monitor": 3,
                                              "listener": "7", "l7rule": 0}})
    assert resp.status_code == 202
    assert resp.json() == {"quota": quota("p9", load_balancer=5, health_monitor=3, listener=7, l7rule=0)}
    # A later PUT changes only what it names; null puts one field back to the default.
    resp = api.put(f"{QUOTAS}/p9", {"quota": {"listener": None, "healthmonitor": 4, "member": 2000000000}})
    assert resp.json() == {"quota": quota("p9", load_balancer=5, health_monitor=4, member=2000000000, l7rule=0)}
    assert api.get(f"{QUOTAS}/p9").json() == resp.json()
    api.put(f"{QUOTAS}/p8", {"quota": {"pool": 1}})

    # Validation: range -1..2000000000, integers, known attributes only.
    for body, message in (
            ({"member": -2}, "Invalid input for field/attribute member. Value: '-2'. "
                             "Value should be greater or equal to -1"),
            ({"pool": 2000000001}, "Invalid input for field/attribute pool. Value: '2000000001'. "
                                   "Value should be lower or equal to 2000000000"),
            ({"pool": "lots"}, "Invalid input for field/attribute pool. Value: 'lots'. Value should be integer"),
            ({"bogus": 1}, "Unknown attribute for argument quota: bogus")):
        resp = api.put(f"{QUOTAS}/p9", {"quota": body})
        assert (resp.status_code, resp.json()["faultstring"]) == (400, message)

    # The list shows raw values (null = default), one entry per project with a record, sorted/paged by project.
    listed = api.get(QUOTAS).json()
    assert listed["quotas_links"] == []
    assert {q["project_id"]: q for q in listed["quotas"]}["p9"] == quota(
        "p9", load_balancer=5, health_monitor=4, member=2000000000, l7rule=0, listener=None, pool=None,
        l7policy=None)
    assert [q["project_id"] for q in api.get(f"{QUOTAS}?project_id=p8").json()["quotas"]] == ["p8"]
    page = api.get(f"{QUOTAS}?limit=1").json()
    assert [q["project_id"] for q in page["quotas"]] == ["p8"]
    assert page["quotas_links"] == [{"href": "http://testserver/v2/lbaas/quotas?limit=1&marker=p8", "rel": "next"}]

    # DELETE resets to the defaults (202, no body); a project without a record is 404 (Octavia's wording).
    resp = api.delete(f"{QUOTAS}/p9")
    assert (resp.status_code, resp.content) == (202, b"")
    assert api.get(f"{QUOTAS}/p9").json() == {"quota": quota("p9")}
    resp = api.delete(f"{QUOTAS}/nobody")
    assert (resp.status_code, resp.json()["faultstring"]) == (404, "Quotas nobody not found.")


@pytest.fixture
def testing_client(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """auth_strategy=testing: identity from headers, no implicit admin, policies and quotas enforced."""
    with running_controller(db_url, str(tmp_path_factory.mktemp("state")),
                            api_settings={"auth_strategy": "testing"},
                            quotas={"default_listener_quota": 10}) as ctl, TestClient(ctl.app) as client:
        yield client


def caller(client: TestClient, project: str, *roles: str) -> Api:
    api = Api(client, project)
    api.headers["X-Roles"] = ",".join(roles)
    return api


def test_quota_enforcement_and_policy_per_role(testing_client: TestClient) -> None:
    admin = caller(testing_client, "admin-project", "admin")
    quota_admin = caller(testing_client, "ops", "load-balancer_quota_admin")
    member = caller(testing_client, "p1", "member")
    observer = caller(testing_client, "p1", "load-balancer_observer")
    other_member = caller(testing_client, "p2", "load-balancer_member")
    nobody = caller(testing_client, "p1")

    # Configured defaults show through ([quotas] default_listener_quota = 10).
    assert admin.get(f"{QUOTAS}/defaults").json() == {"quota": quota("defaults", listener=10)}

    # A quota of one load balancer: the second create is refused with Octavia's 403.
    assert admin.put(f"{QUOTAS}/p1", {"quota": {"loadbalancer": 1}}).status_code == 202
    lb_body = {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}}
    first = member.post("/v2/lbaas/loadbalancers", lb_body)
    assert first.status_code == 201, first.text
    resp = member.post("/v2/lbaas/loadbalancers", lb_body)
    assert resp.status_code == 403
    assert resp.json() == {"faultcode": "Client", "faultstring": "Quota has been met for resources: Load Balancer",
                           "debuginfo": None}
    # Another project is not affected by p1's quota.
    assert other_member.post("/v2/lbaas/loadbalancers", lb_body).status_code == 201

    # Readers of their own project (observer, member) see its quota, not another project's.
    expected = {"quota": quota("p1", load_balancer=1, listener=10)}
    assert observer.get(f"{QUOTAS}/p1").json() == expected
    assert member.get(f"{QUOTAS}/p1").json() == expected
    assert member.get(f"{QUOTAS}/p1/default").json() == {"quota": quota("p1", listener=10)}
    for api, path in ((observer, f"{QUOTAS}/p2"), (other_member, f"{QUOTAS}/p1"),
                      (other_member, f"{QUOTAS}/p1/default"), (nobody, f"{QUOTAS}/p1"), (nobody, QUOTAS),
                      # "defaults" is a project like any other to the policy (⚠ as in Octavia).
                      (member, f"{QUOTAS}/defaults"),
                      (observer, f"{QUOTAS}?project_id=p2")):
        resp = api.get(path)
        assert (resp.status_code, resp.json()) == (403, DENIED), path
    # Listing without global read is limited to the caller's own project.
    assert [q["project_id"] for q in observer.get(QUOTAS).json()["quotas"]] == ["p1"]

    # Only quota admins and admins write quotas, for any project.
    for api in (member, observer, other_member):
        assert api.put(f"{QUOTAS}/p1", {"quota": {"loadbalancer": 5}}).status_code == 403
        assert api.delete(f"{QUOTAS}/p1").status_code == 403
    resp = quota_admin.put(f"{QUOTAS}/p2", {"quota": {"pool": 3}})
    assert (resp.status_code, resp.json()) == (202, {"quota": quota("p2", pool=3, listener=10)})
    assert sorted(q["project_id"] for q in quota_admin.get(QUOTAS).json()["quotas"]) == ["p1", "p2"]
    assert [q["project_id"] for q in admin.get(f"{QUOTAS}?project_id=p2").json()["quotas"]] == ["p2"]
    assert quota_admin.get(f"{QUOTAS}/defaults").status_code == 200

    # Reset by the quota admin: p1 is back to unlimited load balancers.
    assert quota_admin.delete(f"{QUOTAS}/p1").status_code == 202
    assert member.post("/v2/lbaas/loadbalancers", lb_body).status_code == 201
