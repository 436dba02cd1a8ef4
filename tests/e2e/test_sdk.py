"""openstacksdk against a real `ostia up`: `auth_type: none` + `load_balancer_endpoint_override`.

The SDK discovers the API from GET / and then uses the `/v2` prefix (the CLI uses `/v2.0`), resolves names
with GET-by-id first (404, then `?name=`), and sends `cascade=true` in lower case.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from openstack import exceptions as sdk_exc

from tests.e2e.conftest import OstiaServer

pytestmark = pytest.mark.e2e

POLL = 0.1  # seconds between SDK status polls


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def conn(ostia_server: OstiaServer) -> Iterator[Any]:
    connection = openstack.connect(auth_type="none", load_balancer_endpoint_override=ostia_server.url,
                                   network_endpoint_override=ostia_server.url, load_yaml_config=False,
                                   load_envvars=False)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="module")
def public_subnet(conn: Any) -> Any:
    """Through the SDK's network proxy, i.e. Ostia's Networking view."""
    subnet = conn.network.find_subnet("public-subnet", ignore_missing=False)
    assert conn.network.get_subnet(subnet.id).name == "public-subnet"
    return subnet


def active(conn: Any, lb_id: str) -> Any:
    lb = conn.load_balancer.wait_for_load_balancer(lb_id, interval=POLL, wait=60)
    assert lb.provisioning_status == "ACTIVE"
    return lb


@contextlib.contextmanager
def load_balancer(conn: Any, subnet: Any, project: str, **attrs: Any) -> Iterator[Any]:
    lb = conn.load_balancer.create_load_balancer(vip_subnet_id=subnet.id, project_id=project, **attrs)
    try:
        yield active(conn, lb.id)
    finally:
        with contextlib.suppress(sdk_exc.SDKException):
            conn.load_balancer.delete_load_balancer(lb.id, cascade=True)


def test_sdk_load_balancer(conn: Any, ostia_server: OstiaServer, public_subnet: Any, project: str) -> None:
    lbs = conn.load_balancer
    name = unique("sdk")
    created = lbs.create_load_balancer(name=name, vip_subnet_id=public_subnet.id, project_id=project,
                                       description="sdk lb", tags=["a", "b"])
    assert created.provisioning_status == "PENDING_CREATE"
    lb = active(conn, created.id)
    assert lb.operating_status == "OFFLINE"  # noop drivers: like Octavia, nothing ever reports it ONLINE
    assert (lb.vip_subnet_id, lb.vip_network_id) == (public_subnet.id, public_subnet.network_id)
    assert (lb.project_id, lb.description, sorted(lb.tags)) == (project, "sdk lb", ["a", "b"])

    # find: GET /lbaas/loadbalancers/<name> is a 404, then ?name=; by id it is a plain GET
    assert lbs.find_load_balancer(name).id == lb.id
    assert lbs.find_load_balancer(lb.id).id == lb.id
    assert lbs.find_load_balancer(unique("missing")) is None
    assert lbs.get_load_balancer(lb.id).name == name
    assert [x.id for x in lbs.load_balancers(name=name)] == [lb.id]
    assert [x.id for x in lbs.load_balancers(tags="a,b", project_id=project)] == [lb.id]
    assert lb.id in {x.id for x in lbs.load_balancers(provisioning_status="ACTIVE")}

    updated = lbs.update_load_balancer(lb, description="changed", name=name + "x")
    assert updated.provisioning_status == "PENDING_UPDATE"
    lb2 = active(conn, lb.id)
    assert (lb2.name, lb2.description) == (name + "x", "changed")
    assert lb2.updated_at and lb2.updated_at >= lb.updated_at

    stats = lbs.get_load_balancer_statistics(lb.id)
    assert (stats.bytes_in, stats.bytes_out, stats.active_connections) == (0, 0, 0)

    lbs.failover_load_balancer(lb.id)
    active(conn, lb.id)
    amphorae = list(lbs.amphorae(loadbalancer_id=lb.id))
    assert amphorae and {a.loadbalancer_id for a in amphorae} == {lb.id}

    # an unknown id is a 404 to the SDK; `fields=` trims the object
    with pytest.raises(sdk_exc.NotFoundException):
        lbs.get_load_balancer(str(uuid.uuid4()))
    trimmed = ostia_server.get_json(f"/v2/lbaas/loadbalancers/{lb.id}?fields=name&fields=id")
    assert trimmed == {"loadbalancer": {"id": lb.id, "name": name + "x"}}

    lbs.delete_load_balancer(lb.id)
    lbs.wait_for_delete(lb2, interval=POLL, wait=60)
    assert lbs.find_load_balancer(lb.id) is None


def test_sdk_children(conn: Any, ostia_server: OstiaServer, public_subnet: Any, project: str) -> None:
    lbs = conn.load_balancer
    private = conn.network.find_subnet("private-subnet", ignore_missing=False)
    with load_balancer(conn, public_subnet, project, name=unique("sdk-tree")) as lb:
        listener = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80, name="l1")
        assert listener.provisioning_status == "PENDING_CREATE"
        active(conn, lb.id)
        assert lbs.find_listener("l1").id == listener.id
        assert lbs.get_listener(listener.id).provisioning_status == "ACTIVE"
        assert listener.id in {x.id for x in lbs.listeners(load_balancer_id=lb.id)}
        assert lbs.get_listener_statistics(listener.id).total_connections == 0
        lbs.update_listener(listener, connection_limit=10, description="l")
        active(conn, lb.id)
        assert lbs.get_listener(listener.id).connection_limit == 10

        pool = lbs.create_pool(listener_id=listener.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN", name="p1")
        active(conn, lb.id)
        pool = lbs.find_pool("p1")
        assert [x["id"] for x in pool.loadbalancers] == [lb.id]
        assert [x["id"] for x in pool.listeners] == [listener.id]
        lbs.update_pool(pool, lb_algorithm="SOURCE_IP")
        active(conn, lb.id)
        assert lbs.get_pool(pool.id).lb_algorithm == "SOURCE_IP"

        member = lbs.create_member(pool, address="192.0.2.30", protocol_port=8080, subnet_id=private.id,
                                   name="m1", weight=3)
        active(conn, lb.id)
        # find by name: GET .../members/m1?pool_id=<pool> (404, the unknown query parameter ignored), then ?name=
        assert lbs.find_member("m1", pool).id == member.id
        assert lbs.find_member(member.id, pool).id == member.id
        got = lbs.get_member(member.id, pool)
        assert (got.weight, got.subnet_id, got.operating_status) == (3, private.id, "NO_MONITOR")
        lbs.update_member(member, pool, weight=7)
        active(conn, lb.id)
        assert lbs.get_member(member.id, pool).weight == 7
        assert [m.id for m in lbs.members(pool, address="192.0.2.30")] == [member.id]

        # batch member update (PUT /pools/{id}/members): replaces m1 by two new members
        resp = lbs.put(f"/lbaas/pools/{pool.id}/members", json={"members": [
            {"address": "192.0.2.31", "protocol_port": 80}, {"address": "192.0.2.32", "protocol_port": 80}]})
        assert resp.status_code == 202, resp.text
        active(conn, lb.id)
        assert sorted(m.address for m in lbs.members(pool)) == ["192.0.2.31", "192.0.2.32"]

        hm = lbs.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=2,
                                       url_path="/ping", name="hm1")
        active(conn, lb.id)
        assert lbs.find_health_monitor("hm1").id == hm.id
        assert lbs.get_health_monitor(hm.id).provisioning_status == "ACTIVE"
        lbs.update_health_monitor(hm, delay=9)
        active(conn, lb.id)
        assert lbs.get_health_monitor(hm.id).delay == 9
        assert lbs.get_pool(pool.id).health_monitor_id == hm.id
        assert hm.id in {x.id for x in lbs.health_monitors(pool_id=pool.id)}

        policy = lbs.create_l7_policy(listener_id=listener.id, action="REDIRECT_TO_URL",
                                      redirect_url="https://example.com/", name="pol1")
        active(conn, lb.id)
        assert lbs.find_l7_policy("pol1").id == policy.id
        raw = ostia_server.get_json(f"/v2/lbaas/l7policies/{policy.id}")["l7policy"]
        assert (raw["redirect_url"], raw["redirect_http_code"]) == ("https://example.com/", 302)
        rule = lbs.create_l7_rule(policy, type="HOST_NAME", compare_type="EQUAL_TO", rule_value="www.example.com")
        active(conn, lb.id)
        assert lbs.find_l7_rule(rule.id, policy).id == rule.id
        lbs.update_l7_rule(rule, policy, rule_value="api.example.com")
        active(conn, lb.id)
        assert lbs.get_l7_rule(rule.id, policy).rule_value == "api.example.com"
        assert [r.id for r in lbs.l7_rules(policy)] == [rule.id]
        lbs.update_l7_policy(policy, action="REJECT")
        active(conn, lb.id)
        assert lbs.get_l7_policy(policy.id).action == "REJECT"
        assert [p.id for p in lbs.l7_policies(listener_id=listener.id)] == [policy.id]

        # sort and filter on a list
        names = [p.name for p in lbs.pools(loadbalancer_id=lb.id, sort="name:desc")]
        assert names == sorted(names, reverse=True)

        lbs.delete_l7_rule(rule, policy)
        active(conn, lb.id)
        lbs.delete_l7_policy(policy)
        active(conn, lb.id)
        lbs.delete_health_monitor(hm)
        active(conn, lb.id)
        for m in list(lbs.members(pool)):
            lbs.delete_member(m, pool)
            active(conn, lb.id)
        lbs.delete_pool(pool)
        active(conn, lb.id)
        lbs.delete_listener(listener)
        active(conn, lb.id)
        for getter, ident in ((lbs.find_listener, listener.id), (lbs.find_pool, pool.id),
                              (lbs.find_health_monitor, hm.id), (lbs.find_l7_policy, policy.id)):
            assert getter(ident) is None


def test_sdk_cascade_delete(conn: Any, ostia_server: OstiaServer, public_subnet: Any, project: str) -> None:
    lbs = conn.load_balancer
    lb = lbs.create_load_balancer(vip_subnet_id=public_subnet.id, project_id=project, name=unique("sdk-cascade"))
    active(conn, lb.id)
    listener = lbs.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=443)
    active(conn, lb.id)
    pool = lbs.create_pool(listener_id=listener.id, protocol="TCP", lb_algorithm="ROUND_ROBIN")
    active(conn, lb.id)
    with pytest.raises(sdk_exc.BadRequestException, match="it has children"):
        lbs.delete_load_balancer(lb.id)
    lbs.delete_load_balancer(lb.id, cascade=True)  # ?cascade=true, lower case
    lbs.wait_for_delete(lb, interval=POLL, wait=60)
    assert lbs.find_listener(listener.id) is None and lbs.find_pool(pool.id) is None


def test_sdk_quotas(conn: Any, ostia_server: OstiaServer) -> None:
    lbs = conn.load_balancer
    target = uuid.uuid4().hex
    defaults = lbs.get_quota_default()
    fresh = lbs.get_quota(target)
    assert (fresh.load_balancers, fresh.listeners, fresh.members) == (
        defaults.load_balancers, defaults.listeners, defaults.members)

    lbs.update_quota(target, load_balancers=12, pools=4)
    quota = lbs.get_quota(target)
    assert (quota.load_balancers, quota.pools, quota.listeners) == (12, 4, defaults.listeners)
    assert target in {q.project_id for q in lbs.quotas()}
    lbs.delete_quota(target)
    reset = lbs.get_quota(target)
    assert (reset.load_balancers, reset.pools) == (defaults.load_balancers, defaults.pools)


def test_sdk_catalog_and_amphorae(conn: Any, ostia_server: OstiaServer, public_subnet: Any, project: str) -> None:
    lbs = conn.load_balancer
    providers = {p.name: p.description for p in lbs.providers()}
    assert "amphora" in providers
    caps = {c.name for c in lbs.provider_flavor_capabilities("amphora")}
    assert "loadbalancer_topology" in caps
    assert [c.name for c in lbs.provider_flavor_capabilities("amphora", name="compute_flavor")] == ["compute_flavor"]

    fp_name = unique("fp")
    fp = lbs.create_flavor_profile(name=fp_name, provider_name="amphora",
                                   flavor_data='{"loadbalancer_topology": "SINGLE"}')
    assert lbs.find_flavor_profile(fp_name).id == fp.id
    lbs.update_flavor_profile(fp, name=fp_name + "x")
    assert lbs.get_flavor_profile(fp.id).name == fp_name + "x"
    assert fp.id in {x.id for x in lbs.flavor_profiles()}
    flavor = lbs.create_flavor(name=unique("flavor"), flavor_profile_id=fp.id, is_enabled=True)
    assert lbs.find_flavor(flavor.name).id == flavor.id
    lbs.update_flavor(flavor, description="sdk")
    assert lbs.get_flavor(flavor.id).description == "sdk"
    assert flavor.id in {x.id for x in lbs.flavors()}

    azp_name = unique("azp")
    azp = lbs.create_availability_zone_profile(name=azp_name, provider_name="amphora",
                                               availability_zone_data='{"compute_zone": "nova"}')
    assert lbs.find_availability_zone_profile(azp_name).id == azp.id
    lbs.update_availability_zone_profile(azp, name=azp_name + "x")
    assert lbs.get_availability_zone_profile(azp.id).name == azp_name + "x"
    az = lbs.create_availability_zone(name=unique("az"), availability_zone_profile_id=azp.id)
    assert lbs.get_availability_zone(az.name).availability_zone_profile_id == azp.id
    lbs.update_availability_zone(az.name, description="sdk az")  # the SDK's AZ has no id: pass the name
    assert lbs.find_availability_zone(az.name).description == "sdk az"
    assert az.name in {x.name for x in lbs.availability_zones()}

    with load_balancer(conn, public_subnet, project, flavor_id=flavor.id, availability_zone=az.name) as lb:
        assert (lb.flavor_id, lb.availability_zone) == (flavor.id, az.name)
        amphora = list(lbs.amphorae(loadbalancer_id=lb.id))[0]
        assert lbs.get_amphora(amphora.id).loadbalancer_id == lb.id
        lbs.configure_amphora(amphora.id)
        active(conn, lb.id)
        lbs.failover_amphora(amphora.id)
        active(conn, lb.id)
        assert list(lbs.amphorae(loadbalancer_id=lb.id))
    lbs.wait_for_delete(lb, interval=POLL, wait=60)

    lbs.delete_flavor(flavor)
    lbs.delete_flavor_profile(fp)
    lbs.delete_availability_zone(az.name)
    lbs.delete_availability_zone_profile(azp)
    assert lbs.find_flavor(flavor.id) is None and lbs.find_flavor_profile(fp.id) is None
    assert lbs.find_availability_zone(az.name) is None and lbs.find_availability_zone_profile(azp.id) is None
