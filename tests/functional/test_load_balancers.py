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


def test_delete_soft_deletes_and_hides(api: Api) -> None:
    lb = api.create_lb()
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    api.wait_lb(lb["id"], "DELETED")
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["faultstring"] == \
        f"Load Balancer {lb['id']} not found."
