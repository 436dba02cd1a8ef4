"""python-openstackclient + python-octaviaclient against a real `ostia up` (single-endpoint noauth mode).

Every create/show/list/set/unset/delete command of every resource runs here, `--wait` included. `--wait`
polls every 3 s, so it is used once or twice per resource; elsewhere the tests poll the API directly.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cli, OstiaServer, parse

pytestmark = pytest.mark.e2e

LBS = "/v2/lbaas/loadbalancers"
STAT_KEYS = {"active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections"}
QUOTA_KEYS = {"load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


def ref_ids(value: Any) -> set[str]:
    """A back-reference column (`listeners`, `pools`, `loadbalancers`...): list of {"id"} objects or ids."""
    return {item["id"] if isinstance(item, dict) else item for item in value or []}


@pytest.fixture(scope="module")
def tree_lb(ostia_server: OstiaServer, project: str) -> Iterator[dict[str, Any]]:
    """An ACTIVE load balancer for the child-resource tests (made over HTTP: the LB commands have their own
    test)."""
    status, body = ostia_server.http("POST", LBS, {"loadbalancer": {
        "name": unique("tree"), "vip_subnet_id": _subnet_id(ostia_server, "public-subnet")}}, project=project)
    assert status == 201, body
    lb = ostia_server.wait_lb(body["loadbalancer"]["id"])
    yield lb
    ostia_server.http("DELETE", f"{LBS}/{lb['id']}?cascade=true")


def _subnet_id(server: OstiaServer, name: str) -> str:
    subnets = server.get_json(f"/v2.0/subnets?name={name}")["subnets"]
    assert len(subnets) == 1, subnets
    return str(subnets[0]["id"])


def test_version_document_and_networking_view(ostia_server: OstiaServer, subnets: dict[str, Any]) -> None:
    versions = ostia_server.get_json("/")["versions"]
    assert versions[-1]["id"] == "v2.30" and versions[-1]["status"] == "CURRENT"
    assert {v["status"] for v in versions[:-1]} == {"SUPPORTED"}
    assert {link["href"] for v in versions for link in v["links"]} == {ostia_server.url + "/v2"}
    public, private = subnets["public-subnet"], subnets["private-subnet"]
    assert public["id"] != private["id"]
    missing = str(uuid.uuid4())
    for prefix in ("/v2", "/v2.0"):  # keystoneauth discovery picks /v2; octaviaclient's own calls use /v2.0
        for query in ("name=public-subnet", f"id={public['id']}"):
            assert [s["id"] for s in ostia_server.get_json(f"{prefix}/subnets?{query}")["subnets"]] == [public["id"]]
        assert ostia_server.get_json(f"{prefix}/subnets?id={missing}") == {"subnets": []}
        nets = ostia_server.get_json(f"{prefix}/networks?id={public['network_id']}")["networks"]
        assert [(n["name"], n["subnets"]) for n in nets] == [("public", [public["id"]])]
        assert ostia_server.get_json(f"{prefix}/subnets/{private['id']}")["subnet"]["name"] == "private-subnet"
        assert ostia_server.http("GET", f"{prefix}/subnets/{missing}")[0] == 404


def test_load_balancer_commands(cli: Cli, ostia_server: OstiaServer, subnets: dict[str, Any], project: str) -> None:
    public = subnets["public-subnet"]
    name, other = unique("lb"), unique("lb")
    # --vip-subnet-id by name (GET /v2.0/subnets?name=) and --wait until ACTIVE
    lb = cli("create", "--vip-subnet-id", "public-subnet", "--name", name, "--description", "first",
             "--tag", "e2e", "--tag", "blue", "--project", project, "--wait")
    assert lb["provisioning_status"] == "ACTIVE"
    assert lb["operating_status"] == "OFFLINE"  # noop drivers: no heartbeats, like Octavia's
    assert (lb["name"], lb["description"], lb["project_id"]) == (name, "first", project)
    assert (lb["vip_subnet_id"], lb["vip_network_id"]) == (public["id"], public["network_id"])
    assert sorted(lb["tags"]) == ["blue", "e2e"] and lb["provider"] == "amphora"
    # --vip-subnet-id by UUID (GET /v2.0/subnets?id=), no --wait: the create answer is PENDING_CREATE
    lb2 = cli("create", "--vip-subnet-id", subnets["private-subnet"]["id"], "--name", other, "--project", project)
    assert lb2["provisioning_status"] == "PENDING_CREATE"
    assert lb2["vip_subnet_id"] == subnets["private-subnet"]["id"]
    assert ostia_server.wait_lb(lb2["id"])["operating_status"] == "OFFLINE"

    listed, by_name, by_tag, by_project = cli.many(
        ("list",), ("list", "--name", name), ("list", "--tags", "e2e,blue"), ("list", "--project", project))
    assert {lb["id"], lb2["id"]} <= ids(listed)
    assert ids(by_name) == {lb["id"]} and ids(by_tag) == {lb["id"]}
    assert {lb["id"], lb2["id"]} <= ids(by_project)
    assert {row["project_id"] for row in by_project} == {project}
    # name-or-id resolution: ?name= for names, ?id= for UUIDs; an unknown UUID is an empty list, not a 404
    shown_by_name, shown_by_id = cli.many(("show", name), ("show", lb["id"]))
    assert shown_by_name["id"] == shown_by_id["id"] == lb["id"]
    assert ostia_server.get_json(f"/v2.0/lbaas/loadbalancers?id={uuid.uuid4()}")["loadbalancers"] == []
    assert "Unable to locate" in cli.fails("show", str(uuid.uuid4()))

    renamed = unique("lb")
    assert cli("set", "--name", renamed, "--description", "hello", "--tag", "green", name, "--wait") == ""
    shown = cli("show", renamed)
    assert (shown["name"], shown["description"], shown["provisioning_status"]) == (renamed, "hello", "ACTIVE")
    assert sorted(shown["tags"]) == ["blue", "e2e", "green"]
    assert shown["updated_at"] and shown["updated_at"] >= lb["updated_at"]

    cli("unset", "--description", "--tag", "blue", renamed)
    shown = ostia_server.wait_lb(lb["id"])
    assert shown["description"] == "" and sorted(shown["tags"]) == ["e2e", "green"]
    cli("unset", "--all-tag", "--name", renamed)
    shown = ostia_server.wait_lb(lb["id"])
    assert shown["name"] == "" and shown["tags"] == []

    stats, status = cli.many(("stats", "show", lb["id"]), ("status", "show", lb["id"]))
    assert set(stats) == STAT_KEYS and all(isinstance(v, int) for v in stats.values())
    tree = status["loadbalancer"]
    assert (tree["id"], tree["provisioning_status"], tree["operating_status"]) == (lb["id"], "ACTIVE", "OFFLINE")
    assert tree["listeners"] == []

    assert cli("failover", lb["id"], "--wait") == ""
    assert ostia_server.wait_lb(lb["id"])["provisioning_status"] == "ACTIVE"

    assert cli("delete", other, "--wait") == ""
    assert ostia_server.http("GET", f"{LBS}/{lb2['id']}")[0] == 404
    cli("delete", lb["id"])
    ostia_server.wait_gone(f"{LBS}/{lb['id']}")
    assert not {lb["id"], lb2["id"]} & ids(cli("list"))


def test_endpoint_override_environment(cli: Cli, ostia_server: OstiaServer, project: str) -> None:
    """client-notes way 2, through the installed `openstack` script: separate load-balancer and network
    endpoints; octaviaclient appends /v2.0 itself and asks the network endpoint for GET / first."""
    env = dict(cli.env, OS_AUTH_TYPE="none", OS_LOAD_BALANCER_ENDPOINT_OVERRIDE=ostia_server.url,
               OS_NETWORK_ENDPOINT_OVERRIDE=ostia_server.url)
    name = unique("env")
    status, body = ostia_server.http("POST", LBS, {"loadbalancer": {
        "name": name, "vip_subnet_id": _subnet_id(ostia_server, "private-subnet")}}, project=project)
    assert status == 201, body
    lb_id = body["loadbalancer"]["id"]
    ostia_server.wait_lb(lb_id)
    listed = parse(cli.binary(["loadbalancer", "list", "--name", name, "-f", "json"], env), "format")
    assert ids(listed) == {lb_id}
    shown = parse(cli.binary(["loadbalancer", "show", name, "-f", "json"], env), "format")
    assert (shown["id"], shown["project_id"], shown["provisioning_status"]) == (lb_id, project, "ACTIVE")
    assert parse(cli.binary(["loadbalancer", "delete", name], env), None) == ""
    ostia_server.wait_gone(f"{LBS}/{lb_id}")


def test_listener_commands(cli: Cli, ostia_server: OstiaServer, tree_lb: dict[str, Any]) -> None:
    lb_id, name = tree_lb["id"], unique("lsn")
    listener = cli("listener", "create", "--protocol", "HTTP", "--protocol-port", "8080", "--name", name,
                   "--description", "d1", "--connection-limit", "100", "--timeout-client-data", "1000",
                   "--tag", "t1", tree_lb["name"], "--wait")
    assert listener["provisioning_status"] == "ACTIVE"
    assert (listener["protocol"], listener["protocol_port"], listener["connection_limit"]) == ("HTTP", 8080, 100)
    assert listener["timeout_client_data"] == 1000 and listener["tags"] == ["t1"]
    assert ref_ids(listener["loadbalancers"]) == {lb_id}
    assert listener["id"] in ref_ids(ostia_server.get_json(f"{LBS}/{lb_id}")["loadbalancer"]["listeners"])

    listed, shown, stats = cli.many(("listener", "list", "--loadbalancer", lb_id), ("listener", "show", name),
                                    ("listener", "stats", "show", name))
    assert listener["id"] in ids(listed)
    assert shown["id"] == listener["id"] and shown["description"] == "d1"
    assert set(stats) == STAT_KEYS

    renamed = unique("lsn")
    cli("listener", "set", "--name", renamed, "--description", "d2", "--connection-limit", "200",
        "--insert-headers", "X-Forwarded-For=true", name)
    shown = ostia_server.wait_for(f"/v2/lbaas/listeners/{listener['id']}", "listener")
    assert (shown["name"], shown["description"], shown["connection_limit"]) == (renamed, "d2", 200)
    assert shown["insert_headers"] == {"X-Forwarded-For": "true"}
    ostia_server.wait_lb(lb_id)

    cli("listener", "unset", "--description", "--connection-limit", "--timeout-client-data", "--insert-headers",
        "--tag", "t1", renamed)
    ostia_server.wait_lb(lb_id)
    shown = cli("listener", "show", listener["id"])
    assert (shown["description"], shown["connection_limit"], shown["timeout_client_data"]) == ("", -1, 50000)
    assert not shown["insert_headers"] and shown["tags"] == []

    cli("listener", "delete", renamed, "--wait")
    assert ostia_server.http("GET", f"/v2/lbaas/listeners/{listener['id']}")[0] == 404
    assert listener["id"] not in ids(cli("listener", "list"))


def test_pool_member_and_health_monitor_commands(cli: Cli, ostia_server: OstiaServer, tree_lb: dict[str, Any],
                                                 subnets: dict[str, Any]) -> None:
    lb_id = tree_lb["id"]
    listener = cli("listener", "create", "--protocol", "HTTP", "--protocol-port", "8081", "--name",
                   unique("lsn"), lb_id)
    ostia_server.wait_lb(lb_id)

    pool_name = unique("pool")
    pool = cli("pool", "create", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--listener",
               listener["name"], "--name", pool_name, "--description", "p", "--session-persistence",
               "type=APP_COOKIE,cookie_name=sess", "--wait")
    assert pool["provisioning_status"] == "ACTIVE"
    assert ref_ids(pool["loadbalancers"]) == {lb_id} and ref_ids(pool["listeners"]) == {listener["id"]}
    assert pool["session_persistence"]["type"] == "APP_COOKIE"
    assert pool["session_persistence"]["cookie_name"] == "sess"
    assert cli("listener", "show", listener["id"])["default_pool_id"] == pool["id"]
    assert pool["id"] in ref_ids(ostia_server.get_json(f"{LBS}/{lb_id}")["loadbalancer"]["pools"])

    # members: --subnet-id by name, --wait (uses pool.loadbalancers[0].id to find the LB to poll)
    private = subnets["private-subnet"]["id"]
    m1 = cli("member", "create", "--address", "192.0.2.10", "--protocol-port", "80", "--subnet-id",
             "private-subnet", "--name", "m1", "--weight", "5", "--tag", "mt", pool_name, "--wait")
    assert (m1["provisioning_status"], m1["operating_status"]) == ("ACTIVE", "NO_MONITOR")
    assert (m1["address"], m1["protocol_port"], m1["weight"], m1["subnet_id"]) == ("192.0.2.10", 80, 5, private)
    m2 = cli("member", "create", "--address", "192.0.2.11", "--protocol-port", "80", "--subnet-id", private,
             "--name", "m2", "--enable-backup", pool["id"])
    assert m2["provisioning_status"] == "PENDING_CREATE" and m2["backup"] is True
    ostia_server.wait_lb(lb_id)

    members, m1_shown, pools = cli.many(("member", "list", pool_name), ("member", "show", pool_name, "m1"),
                                        ("pool", "list", "--loadbalancer", lb_id))
    assert ids(members) == {m1["id"], m2["id"]}
    assert m1_shown["id"] == m1["id"]
    assert pool["id"] in ids(pools)

    cli("member", "set", pool_name, "m1", "--weight", "10", "--enable-backup", "--monitor-port", "8080",
        "--name", "m1b")
    shown = ostia_server.wait_for(f"/v2/lbaas/pools/{pool['id']}/members/{m1['id']}", "member")
    assert (shown["name"], shown["weight"], shown["backup"], shown["monitor_port"]) == ("m1b", 10, True, 8080)
    ostia_server.wait_lb(lb_id)
    cli("member", "unset", pool_name, m1["id"], "--weight", "--backup", "--monitor-port", "--tag", "mt")
    ostia_server.wait_lb(lb_id)
    shown = cli("member", "show", pool["id"], m1["id"])
    assert (shown["weight"], shown["backup"], shown["monitor_port"], shown["tags"]) == (1, False, None, [])

    # health monitor
    hm = cli("healthmonitor", "create", "--delay", "5", "--timeout", "3", "--max-retries", "3", "--type", "HTTP",
             "--url-path", "/healthz", "--name", "hm1", pool_name, "--wait")
    assert hm["provisioning_status"] == "ACTIVE" and ref_ids(hm["pools"]) == {pool["id"]}
    assert (hm["type"], hm["delay"], hm["url_path"], hm["http_method"], hm["expected_codes"]) == (
        "HTTP", 5, "/healthz", "GET", "200")
    hms, hm_shown, pool_shown = cli.many(("healthmonitor", "list"), ("healthmonitor", "show", "hm1"),
                                         ("pool", "show", pool_name))
    assert hm["id"] in ids(hms) and hm_shown["id"] == hm["id"]
    assert pool_shown["healthmonitor_id"] == hm["id"]
    assert ref_ids(pool_shown["members"]) == {m1["id"], m2["id"]}
    # the status tree: listener → pool → health_monitor and members
    tree = cli("status", "show", lb_id)["loadbalancer"]
    [lsn_tree] = [x for x in tree["listeners"] if x["id"] == listener["id"]]
    [pool_tree] = lsn_tree["pools"]
    assert (pool_tree["id"], pool_tree["health_monitor"]["id"]) == (pool["id"], hm["id"])
    assert {m["id"]: m["address"] for m in pool_tree["members"]} == {m1["id"]: "192.0.2.10", m2["id"]: "192.0.2.11"}

    cli("healthmonitor", "set", "--delay", "10", "--max-retries-down", "5", "--http-method", "HEAD",
        "--expected-codes", "200,204", "--name", "hm2", "hm1")
    shown = ostia_server.wait_for(f"/v2/lbaas/healthmonitors/{hm['id']}", "healthmonitor")
    assert (shown["name"], shown["delay"], shown["max_retries_down"]) == ("hm2", 10, 5)
    assert (shown["http_method"], shown["expected_codes"]) == ("HEAD", "200,204")
    ostia_server.wait_lb(lb_id)
    cli("healthmonitor", "unset", "--url-path", "--http-method", "--expected-codes", "--max-retries-down", "hm2")
    ostia_server.wait_lb(lb_id)
    shown = cli("healthmonitor", "show", hm["id"])
    assert (shown["url_path"], shown["http_method"], shown["expected_codes"], shown["max_retries_down"]) == (
        "/", "GET", "200", 3)

    # pool set / unset
    renamed = unique("pool")
    cli("pool", "set", "--name", renamed, "--description", "q", "--lb-algorithm", "LEAST_CONNECTIONS",
        "--session-persistence", "type=HTTP_COOKIE", pool_name)
    shown = ostia_server.wait_for(f"/v2/lbaas/pools/{pool['id']}", "pool")
    assert (shown["name"], shown["description"], shown["lb_algorithm"]) == (renamed, "q", "LEAST_CONNECTIONS")
    assert shown["session_persistence"]["type"] == "HTTP_COOKIE"
    ostia_server.wait_lb(lb_id)
    cli("pool", "unset", "--description", "--session-persistence", renamed)
    ostia_server.wait_lb(lb_id)
    shown = cli("pool", "show", renamed)
    assert shown["description"] == "" and not shown["session_persistence"]

    # deletes, child first
    cli("healthmonitor", "delete", hm["id"])
    ostia_server.wait_gone(f"/v2/lbaas/healthmonitors/{hm['id']}")
    ostia_server.wait_lb(lb_id)
    cli("member", "delete", renamed, "m1b", "--wait")
    assert ostia_server.http("GET", f"/v2/lbaas/pools/{pool['id']}/members/{m1['id']}")[0] == 404
    cli("member", "delete", pool["id"], m2["id"])
    ostia_server.wait_gone(f"/v2/lbaas/pools/{pool['id']}/members/{m2['id']}")
    ostia_server.wait_lb(lb_id)
    cli("pool", "delete", renamed, "--wait")
    assert ostia_server.http("GET", f"/v2/lbaas/pools/{pool['id']}")[0] == 404
    cli("listener", "delete", listener["id"])
    ostia_server.wait_gone(f"/v2/lbaas/listeners/{listener['id']}")
    ostia_server.wait_lb(lb_id)


def test_l7policy_and_l7rule_commands(cli: Cli, ostia_server: OstiaServer, tree_lb: dict[str, Any]) -> None:
    lb_id = tree_lb["id"]
    listener = cli("listener", "create", "--protocol", "HTTP", "--protocol-port", "8082", "--name",
                   unique("lsn"), lb_id)
    ostia_server.wait_lb(lb_id)
    pool = cli("pool", "create", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--loadbalancer", lb_id,
               "--name", unique("pool"))
    ostia_server.wait_lb(lb_id)

    pol_name = unique("pol")
    pol = cli("l7policy", "create", "--action", "REDIRECT_TO_POOL", "--redirect-pool", pool["name"], "--name",
              pol_name, "--description", "d", "--tag", "pt", listener["name"], "--wait")
    assert pol["provisioning_status"] == "ACTIVE"
    assert (pol["action"], pol["redirect_pool_id"], pol["listener_id"], pol["position"]) == (
        "REDIRECT_TO_POOL", pool["id"], listener["id"], 1)
    pol2 = cli("l7policy", "create", "--action", "REJECT", "--name", unique("pol"), "--position", "1",
               listener["id"])
    assert pol2["provisioning_status"] == "PENDING_CREATE"
    ostia_server.wait_lb(lb_id)

    listed, shown, lsn = cli.many(("l7policy", "list", "--listener", listener["id"]), ("l7policy", "show", pol_name),
                                  ("listener", "show", listener["id"]))
    assert ids(listed) == {pol["id"], pol2["id"]}
    assert shown["position"] == 2  # pol2 was inserted at position 1
    assert ref_ids(lsn["l7policies"]) == {pol["id"], pol2["id"]}

    cli("l7policy", "set", "--action", "REDIRECT_TO_URL", "--redirect-url", "http://example.com/",
        "--redirect-http-code", "301", "--name", "pol-url", pol_name)
    shown = ostia_server.wait_for(f"/v2/lbaas/l7policies/{pol['id']}", "l7policy")
    assert (shown["action"], shown["redirect_url"], shown["redirect_http_code"]) == (
        "REDIRECT_TO_URL", "http://example.com/", 301)
    assert shown["redirect_pool_id"] is None
    ostia_server.wait_lb(lb_id)
    cli("l7policy", "unset", "--description", "--redirect-http-code", "--tag", "pt", "pol-url")
    ostia_server.wait_lb(lb_id)
    shown = cli("l7policy", "show", pol["id"])
    # PUT redirect_http_code=null: Octavia stores null (only a POST without it defaults to 302)
    assert (shown["description"], shown["redirect_http_code"], shown["tags"]) == ("", None, [])

    rule = cli("l7rule", "create", "--compare-type", "STARTS_WITH", "--type", "PATH", "--value", "/api",
               "--tag", "rt", pol["id"], "--wait")
    assert rule["provisioning_status"] == "ACTIVE"
    assert (rule["type"], rule["compare_type"], rule["value"], rule["invert"]) == ("PATH", "STARTS_WITH", "/api",
                                                                                   False)
    rule2 = cli("l7rule", "create", "--compare-type", "EQUAL_TO", "--type", "HEADER", "--key", "X-Env",
                "--value", "prod", "--invert", "pol-url")
    assert rule2["invert"] is True and rule2["key"] == "X-Env"
    ostia_server.wait_lb(lb_id)

    rules, rule_shown, pol_shown = cli.many(("l7rule", "list", "pol-url"), ("l7rule", "show", "pol-url", rule["id"]),
                                            ("l7policy", "show", "pol-url"))
    assert ids(rules) == {rule["id"], rule2["id"]}
    assert rule_shown["id"] == rule["id"]
    assert ref_ids(pol_shown["rules"]) == {rule["id"], rule2["id"]}

    cli("l7rule", "set", "--value", "/v2", "--compare-type", "REGEX", "pol-url", rule["id"])
    base = f"/v2/lbaas/l7policies/{pol['id']}/rules"
    shown = ostia_server.wait_for(f"{base}/{rule['id']}", "rule")
    assert (shown["value"], shown["compare_type"]) == ("/v2", "REGEX")
    ostia_server.wait_lb(lb_id)
    cli("l7rule", "unset", "--invert", "pol-url", rule2["id"])
    ostia_server.wait_lb(lb_id)
    cli("l7rule", "unset", "--all-tag", "pol-url", rule["id"])
    ostia_server.wait_lb(lb_id)
    shown2, shown = cli.many(("l7rule", "show", "pol-url", rule2["id"]), ("l7rule", "show", "pol-url", rule["id"]))
    assert shown2["invert"] is False and shown["tags"] == []

    cli("l7rule", "delete", "pol-url", rule2["id"])
    ostia_server.wait_gone(f"{base}/{rule2['id']}")
    ostia_server.wait_lb(lb_id)
    cli("l7rule", "delete", pol["id"], rule["id"], "--wait")
    assert ostia_server.http("GET", f"{base}/{rule['id']}")[0] == 404
    cli("l7policy", "delete", pol2["id"])
    ostia_server.wait_gone(f"/v2/lbaas/l7policies/{pol2['id']}")
    ostia_server.wait_lb(lb_id)
    cli("l7policy", "delete", "pol-url", "--wait")
    assert ostia_server.http("GET", f"/v2/lbaas/l7policies/{pol['id']}")[0] == 404
    assert cli("l7policy", "list", "--listener", listener["id"]) == []


def test_cascade_delete(cli: Cli, ostia_server: OstiaServer, project: str) -> None:
    lb = cli("create", "--vip-subnet-id", "public-subnet", "--name", unique("cascade"), "--project", project)
    ostia_server.wait_lb(lb["id"])
    listener = cli("listener", "create", "--protocol", "TCP", "--protocol-port", "22", lb["id"])
    ostia_server.wait_lb(lb["id"])
    pool = cli("pool", "create", "--protocol", "TCP", "--lb-algorithm", "SOURCE_IP", "--listener", listener["id"])
    ostia_server.wait_lb(lb["id"])
    member = cli("member", "create", "--address", "192.0.2.20", "--protocol-port", "22", pool["id"])
    ostia_server.wait_lb(lb["id"])
    # without --cascade: 400 "... it has children"
    assert "it has children" in cli.fails("delete", lb["id"])
    cli("delete", "--cascade", lb["id"], "--wait")  # DELETE ...?cascade=True, then polls until 404
    for path in (f"{LBS}/{lb['id']}", f"/v2/lbaas/listeners/{listener['id']}", f"/v2/lbaas/pools/{pool['id']}",
                 f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}"):
        assert ostia_server.http("GET", path)[0] == 404, path


def test_quota_commands(cli: Cli, ostia_server: OstiaServer) -> None:
    target = uuid.uuid4().hex
    defaults = cli("quota", "defaults", "show")
    assert set(defaults) == QUOTA_KEYS and all(isinstance(v, int) for v in defaults.values())
    assert cli("quota", "show", target) == defaults

    updated = cli("quota", "set", "--loadbalancer", "7", "--healthmonitor", "3", "--l7rule", "11", target)
    assert (updated["load_balancer"], updated["health_monitor"], updated["l7rule"]) == (7, 3, 11)
    assert updated["listener"] == defaults["listener"]
    shown, listed = cli.many(("quota", "show", target), ("quota", "list"))
    assert shown == updated
    mine = [q for q in listed if q["project_id"] == target]
    assert len(mine) == 1 and (mine[0]["load_balancer"], mine[0]["health_monitor"]) == (7, 3)
    assert [q["project_id"] for q in cli("quota", "list", "--project", target)] == [target]

    cli("quota", "unset", "--loadbalancer", "--l7rule", target)
    shown = cli("quota", "show", target)
    assert (shown["load_balancer"], shown["health_monitor"], shown["l7rule"]) == (
        defaults["load_balancer"], 3, defaults["l7rule"])
    cli("quota", "reset", target)
    assert cli("quota", "show", target) == defaults
    # the raw body carries both spellings (gophercloud reads either)
    raw = ostia_server.get_json(f"/v2.0/lbaas/quotas/{target}")["quota"]
    assert {"loadbalancer", "load_balancer", "healthmonitor", "health_monitor"} <= set(raw)


def test_provider_commands(cli: Cli, ostia_server: OstiaServer) -> None:
    providers, caps, flavor_caps, az_caps = cli.many(
        ("provider", "list"), ("provider", "capability", "list", "amphora"),
        ("provider", "capability", "list", "--flavor", "amphora"),
        ("provider", "capability", "list", "--availability-zone", "amphora"))
    assert {"amphora", "octavia"} <= {p["name"] for p in providers}
    assert all(p["description"] for p in providers)
    flavor_names = {c["name"] for c in flavor_caps}
    az_names = {c["name"] for c in az_caps}
    assert "loadbalancer_topology" in flavor_names and "compute_zone" in az_names
    assert {c["name"] for c in caps} == flavor_names | az_names
    assert ostia_server.get_json("/v2/lbaas/providers?fields=name")["providers"] == [
        {"name": p["name"]} for p in ostia_server.get_json("/v2/lbaas/providers")["providers"]]


def test_flavor_and_availability_zone_commands(cli: Cli, ostia_server: OstiaServer, project: str) -> None:
    fp_name, fp2_name = unique("fp"), unique("fp")
    fp = cli("flavorprofile", "create", "--name", fp_name, "--provider", "amphora", "--flavor-data",
             '{"loadbalancer_topology": "SINGLE"}')
    assert (fp["name"], fp["provider_name"]) == (fp_name, "amphora")
    cli("flavorprofile", "set", "--name", fp2_name, "--flavor-data", '{"loadbalancer_topology": "ACTIVE_STANDBY"}',
        fp_name)
    fps, fp_shown = cli.many(("flavorprofile", "list"), ("flavorprofile", "show", fp2_name))
    assert fp["id"] in ids(fps)
    assert fp_shown["id"] == fp["id"] and "ACTIVE_STANDBY" in fp_shown["flavor_data"]

    fl_name = unique("flavor")
    fl = cli("flavor", "create", "--name", fl_name, "--flavorprofile", fp2_name, "--description", "small",
             "--enable")
    assert (fl["flavor_profile_id"], fl["enabled"], fl["description"]) == (fp["id"], True, "small")

    azp_name = unique("azp")
    azp = cli("availabilityzoneprofile", "create", "--name", azp_name, "--provider", "amphora",
              "--availability-zone-data", '{"compute_zone": "nova"}')
    assert azp["provider_name"] == "amphora"
    cli("availabilityzoneprofile", "set", "--availability-zone-data", '{"compute_zone": "zone-b"}', azp_name)
    azps, azp_shown = cli.many(("availabilityzoneprofile", "list"), ("availabilityzoneprofile", "show", azp["id"]))
    assert azp["id"] in ids(azps) and "zone-b" in azp_shown["availability_zone_data"]

    az_name = unique("az")
    az = cli("availabilityzone", "create", "--name", az_name, "--availabilityzoneprofile", azp_name,
             "--description", "zone")
    assert (az["name"], az["availability_zone_profile_id"], az["enabled"]) == (az_name, azp["id"], True)

    # both in use by a load balancer
    lb = cli("create", "--vip-subnet-id", "public-subnet", "--flavor", fl_name, "--availability-zone", az_name,
             "--project", project)
    assert (lb["flavor_id"], lb["availability_zone"]) == (fl["id"], az_name)
    ostia_server.wait_lb(lb["id"])
    assert "in use" in cli.fails("flavor", "delete", fl_name)

    cli("flavor", "set", "--name", fl_name + "x", "--description", "medium", "--disable", fl_name)
    cli("availabilityzone", "set", "--description", "other", "--disable", az_name)
    flavors, fl_shown, azs, az_shown = cli.many(("flavor", "list"), ("flavor", "show", fl["id"]),
                                                ("availabilityzone", "list"), ("availabilityzone", "show", az_name))
    assert fl["id"] in ids(flavors)
    assert (fl_shown["name"], fl_shown["description"], fl_shown["enabled"]) == (fl_name + "x", "medium", False)
    assert az_name in {a["name"] for a in azs}
    assert (az_shown["description"], az_shown["enabled"]) == ("other", False)
    cli("flavor", "unset", "--description", fl["id"])
    cli("availabilityzone", "unset", "--description", az_name)
    fl_shown, az_shown = cli.many(("flavor", "show", fl["id"]), ("availabilityzone", "show", az_name))
    assert fl_shown["description"] == "" and az_shown["description"] == ""

    cli("delete", lb["id"])
    ostia_server.wait_gone(f"{LBS}/{lb['id']}")
    cli("flavor", "delete", fl["id"])
    cli("availabilityzone", "delete", az_name)
    cli("flavorprofile", "delete", fp["id"])
    cli("availabilityzoneprofile", "delete", azp_name)
    flavors, fps, azs, azps = cli.many(("flavor", "list"), ("flavorprofile", "list"), ("availabilityzone", "list"),
                                       ("availabilityzoneprofile", "list"))
    assert fl["id"] not in ids(flavors) and fp["id"] not in ids(fps) and azp["id"] not in ids(azps)
    assert az_name not in {a["name"] for a in azs}


def test_amphora_commands(cli: Cli, ostia_server: OstiaServer, tree_lb: dict[str, Any]) -> None:
    lb_id = tree_lb["id"]
    listeners = []
    for port in ("8083", "8084"):
        listeners.append(cli("listener", "create", "--protocol", "HTTP", "--protocol-port", port, lb_id))
        ostia_server.wait_lb(lb_id)
    every, mine = cli.many(("amphora", "list"), ("amphora", "list", "--loadbalancer", lb_id))
    assert mine and {a["loadbalancer_id"] for a in mine} == {lb_id}
    assert ids(mine) <= ids(every)
    amp_id = mine[0]["id"]
    amp = cli("amphora", "show", amp_id)
    assert (amp["id"], amp["loadbalancer_id"]) == (amp_id, lb_id)
    assert amp["status"] == "ALLOCATED" and amp["role"] == "STANDALONE"  # SINGLE topology
    # only an amphora in ERROR may be deleted
    assert f"{amp_id} is immutable" in cli.fails("amphora", "delete", amp_id)

    # noop drivers send no heartbeats, so there are no statistics rows yet: Octavia's 404
    assert f"Amphora stats for {amp_id} not found." in cli.fails("amphora", "stats", "show", amp_id)
    # what the health manager would write, straight into the state database
    counters = {listeners[0]["id"]: (100, 200, 3, 10, 1), listeners[1]["id"]: (5, 7, 1, 2, 0)}
    with contextlib.closing(sqlite3.connect(ostia_server.state_dir / "ostia.sqlite", timeout=30)) as db, db:
        db.executemany("INSERT INTO listener_statistics (listener_id, amphora_id, bytes_in, bytes_out, "
                       "active_connections, total_connections, request_errors) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(lid, amp_id, *values) for lid, values in counters.items()])
    amp_stats, one_listener, lb_stats, listener_stats = cli.many(
        ("amphora", "stats", "show", amp_id), ("amphora", "stats", "show", "--listener", listeners[1]["id"], amp_id),
        ("stats", "show", lb_id), ("listener", "stats", "show", listeners[0]["id"]))
    fields = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
    assert amp_stats == lb_stats == dict(zip(fields, (105, 207, 4, 12, 1), strict=True))
    assert one_listener == dict(zip(fields, counters[listeners[1]["id"]], strict=True))
    assert listener_stats == dict(zip(fields, counters[listeners[0]["id"]], strict=True))

    assert cli("amphora", "configure", amp_id, "--wait") == ""
    assert cli("amphora", "failover", amp_id, "--wait") == ""
    assert ostia_server.wait_lb(lb_id)["provisioning_status"] == "ACTIVE"
    after = cli("amphora", "list", "--loadbalancer", lb_id)
    assert after and {a["loadbalancer_id"] for a in after} == {lb_id}
    for listener in listeners:
        cli("listener", "delete", listener["id"])
        ostia_server.wait_gone(f"/v2/lbaas/listeners/{listener['id']}")
        ostia_server.wait_lb(lb_id)
