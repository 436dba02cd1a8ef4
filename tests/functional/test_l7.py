"""L7 policies and rules (§2.6, §2.7, §3.1, §3.3, §3.4, §4) against every DB backend and the real worker."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from ostia.db.models import L7Policy, LoadBalancer, Pool
from tests.functional.test_listeners import add_pool, create_listener, fault
from tests.support import tls_secrets
from tests.support.controller import Api

POLICIES = "/v2/lbaas/l7policies"
MISSING = "00000000-0000-0000-0000-00000000000a"


def routing_404(resp: Any) -> tuple[int, str]:
    """A missing policy in a rules URL fails Octavia's routing (_lookup): webob's body, not a fault."""
    body = resp.json()
    assert set(body) == {"code", "title", "message"}, body
    return resp.status_code, body["message"]


def rules_of(pid: str) -> str:
    return f"{POLICIES}/{pid}/rules"


def post_policy(api: Api, listener_id: str, **fields: Any) -> Any:
    return api.post(POLICIES, {"l7policy": {"listener_id": listener_id, **fields}})


def create_policy(api: Api, lb_id: str, listener_id: str, **fields: Any) -> dict[str, Any]:
    resp = post_policy(api, listener_id, **fields)
    assert resp.status_code == 201, resp.text
    api.wait_lb(lb_id)
    return dict(resp.json()["l7policy"])


def order(api: Api, listener_id: str) -> list[tuple[str, int]]:
    """(id, position) of the listener's policies as the collection lists them."""
    body = api.get(f"{POLICIES}?listener_id={listener_id}").json()
    return [(p["id"], p["position"]) for p in body["l7policies"]]


def foreign_pool(controller: Any) -> str:
    """A pool that lives on another load balancer."""
    with controller.db.session() as session:
        lb = LoadBalancer(project_id="p1", provisioning_status="ACTIVE", operating_status="ONLINE",
                          provider="amphora")
        session.add(lb)
        session.flush()
        pool = Pool(load_balancer_id=lb.id, project_id="p1", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                    provisioning_status="ACTIVE", operating_status="ONLINE")
        session.add(pool)
        session.flush()
        return pool.id


def test_policy_actions_positions_and_lifecycle(api: Api, controller: Any) -> None:
    lb = api.create_lb()
    lb_id = lb["id"]
    listener = create_listener(api, lb_id, protocol="HTTP", protocol_port=80)
    lid = listener["id"]
    http_pool, udp_pool, other_pool = add_pool(controller, lb_id, "HTTP"), add_pool(controller, lb_id, "UDP"), \
        foreign_pool(controller)

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "Invalid input for field/attribute action. Value: 'None'. Mandatory field missing."),
        ({"action": "REDIRECT_TO_URL"}, 400, "Invalid L7 Policy arguments: redirect_url must not be None"),
        ({"action": "REDIRECT_PREFIX"}, 400, "Invalid L7 Policy arguments: redirect_prefix must not be None"),
        ({"action": "REDIRECT_TO_POOL"}, 400,
         "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None"),
        ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": http_pool, "redirect_prefix": "http://a.example"}, 400,
         "Invalid L7 Policy arguments: Cannot specify redirect_pool_id and redirect_url or redirect_prefix at "
         "the same time"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://a.example"}, 400,
         "Invalid input for field/attribute redirect_url. Value: 'ftp://a.example'. Value must be a valid URL "
         "string"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a example"}, 400,
         "Invalid input for field/attribute redirect_url. Value: 'http://a example'. Value must be a valid URL "
         "string"),
        ({"action": "REDIRECT_PREFIX", "redirect_prefix": "/relative"}, 400,
         "Invalid input for field/attribute redirect_prefix. Value: '/relative'. Value must be a valid URL "
         "string"),
        ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a.example", "redirect_http_code": 305}, 400,
         "Invalid input for field/attribute redirect_http_code. Value: '305'. Value should be one of: 301, 302, "
         "303, 307, 308"),
        ({"action": "REJECT", "position": 0}, 400,
         "Invalid input for field/attribute position. Value: '0'. Value should be greater or equal to 1"),
        ({"action": "REJECT", "foo": 1}, 400, "Unknown attribute for argument l7policy: foo"),
        ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": udp_pool}, 400,
         "Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'."),
        ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": MISSING}, 404, f"Pool {MISSING} not found."),
        ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": other_pool}, 404, f"Pool {other_pool} not found."),
    ]
    for body, status, message in cases:
        assert fault(post_policy(api, lid, **body)) == (status, message), body
    assert fault(post_policy(api, lid, action="DROP"))[1].startswith(
        "Invalid input for field/attribute action. Value: 'DROP'. Value should be one of: ")
    assert fault(post_policy(api, MISSING, action="REJECT")) == (404, f"Listener {MISSING} not found.")
    assert api.get(f"{POLICIES}?listener_id={lid}").json() == {"l7policies": [], "l7policies_links": []}

    reject = create_policy(api, lb_id, lid, action="REJECT", name="r", tags=["t"], redirect_http_code=301)
    expected = {"name": "r", "description": "", "admin_state_up": True, "listener_id": lid, "action": "REJECT",
                "redirect_pool_id": None, "redirect_url": None, "redirect_prefix": None, "redirect_http_code": 301,
                "position": 1, "rules": [], "project_id": "p1", "tenant_id": "p1", "tags": ["t"],
                "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE", "updated_at": None}
    assert {k: reject[k] for k in expected} == expected
    assert set(reject) == set(expected) | {"id", "created_at"}
    got = api.get(f"{POLICIES}/{reject['id']}").json()["l7policy"]
    assert (got["provisioning_status"], got["operating_status"]) == ("ACTIVE", "ONLINE")
    url = create_policy(api, lb_id, lid, action="REDIRECT_TO_URL", redirect_url="https://b.example/x?y=1")
    assert (url["redirect_http_code"], url["position"]) == (302, 2)
    # A pool policy inserted at 1 pushes the others down; its HTTP code is forced to null.
    to_pool = create_policy(api, lb_id, lid, action="REDIRECT_TO_POOL", redirect_pool_id=http_pool,
                            redirect_http_code=301, position=1)
    assert (to_pool["redirect_pool_id"], to_pool["redirect_http_code"], to_pool["position"]) == (http_pool, None, 1)
    prefix = create_policy(api, lb_id, lid, action="REDIRECT_PREFIX", redirect_prefix="https://c.example",
                           redirect_http_code=308, position=99)
    assert (prefix["position"], prefix["redirect_http_code"]) == (4, 308)
    assert order(api, lid) == [(to_pool["id"], 1), (reject["id"], 2), (url["id"], 3), (prefix["id"], 4)]
    assert api.get(f"/v2/lbaas/listeners/{lid}").json()["listener"]["l7policies"] == [
        {"id": p["id"]} for p in (to_pool, reject, url, prefix)]

    # Moving a policy renumbers the rest 1..n.
    resp = api.put(f"{POLICIES}/{prefix['id']}", {"l7policy": {"position": 1, "name": "first"}})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["l7policy"]["position"], resp.json()["l7policy"]["provisioning_status"]) == (
        1, "PENDING_UPDATE")
    api.wait_lb(lb_id)
    assert order(api, lid) == [(prefix["id"], 1), (to_pool["id"], 2), (reject["id"], 3), (url["id"], 4)]
    # A redirect field alone switches the action; the action drops the fields it does not use.
    resp = api.put(f"{POLICIES}/{reject['id']}", {"l7policy": {"redirect_url": "http://d.example"}})
    assert resp.status_code == 200, resp.text
    switched = resp.json()["l7policy"]
    assert (switched["action"], switched["redirect_url"], switched["redirect_http_code"]) == (
        "REDIRECT_TO_URL", "http://d.example", 302)
    api.wait_lb(lb_id)
    resp = api.put(f"{POLICIES}/{to_pool['id']}", {"l7policy": {"action": "REJECT"}})
    rejected = resp.json()["l7policy"]
    assert (rejected["action"], rejected["redirect_pool_id"], rejected["redirect_http_code"]) == ("REJECT", None,
                                                                                                 None)
    api.wait_lb(lb_id)
    resp = api.put(f"{POLICIES}/{url['id']}", {"l7policy": {"redirect_pool_id": http_pool}})
    to_pool2 = resp.json()["l7policy"]
    assert (to_pool2["action"], to_pool2["redirect_url"], to_pool2["redirect_http_code"]) == (
        "REDIRECT_TO_POOL", None, None)
    api.wait_lb(lb_id)
    for body, status, message in [
            ({}, 400, "Invalid L7 Policy arguments: Invalid update options"),
            ({"action": "REDIRECT_TO_URL"}, 400, "Invalid L7 Policy arguments: redirect_url must not be None"),
            ({"redirect_pool_id": udp_pool}, 400,
             "Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'."),
            ({"redirect_pool_id": other_pool}, 404, f"Pool {other_pool} not found."),
            ({"listener_id": lid}, 400, "Unknown attribute for argument l7policy: listener_id")]:
        assert fault(api.put(f"{POLICIES}/{prefix['id']}", {"l7policy": body})) == (status, message), body
    assert fault(api.put(f"{POLICIES}/{MISSING}", {"l7policy": {"name": "x"}})) == (
        404, f"L7 Policy {MISSING} not found.")

    # The amphora provider only takes L7 policies on HTTP and TERMINATED_HTTPS listeners.
    tcp = create_listener(api, lb_id, protocol="TCP", protocol_port=90)
    assert fault(post_policy(api, tcp["id"], action="REJECT")) == (
        501, "Provider 'amphora' does not support a requested action/option: TCP protocol listeners do not "
             "support L7 policies")

    # Delete: 204, gone once the worker is done, the remaining positions closed up.
    assert api.delete(f"{POLICIES}/{to_pool['id']}").status_code == 204
    api.wait_lb(lb_id)
    assert fault(api.get(f"{POLICIES}/{to_pool['id']}")) == (404, f"L7 Policy {to_pool['id']} not found.")
    assert order(api, lid) == [(prefix["id"], 1), (reject["id"], 2), (url["id"], 3)]
    assert fault(api.delete(f"{POLICIES}/{MISSING}")) == (404, f"L7 Policy {MISSING} not found.")
    listed = api.get(f"{POLICIES}?action=REDIRECT_TO_URL&fields=id").json()
    assert listed == {"l7policies": [{"id": reject["id"]}], "l7policies_links": []}


RULE_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "v"}, "L7 rule type requires a key"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X Bad", "value": "v"}, "Invalid characters in key"),
    ({"type": "HEADER", "compare_type": "CONTAINS", "key": "X-Good", "value": "a b"},
     "Invalid characters in header value"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "value": "v"}, "L7 rule type requires a key"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "k;", "value": "v"}, "Invalid characters in key"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "sid", "value": "a,b"},
     "Invalid characters in cookie value"),
    ({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a b"}, "Invalid characters in comparison value"),
    ({"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": "a\tb"},
     "Invalid characters in comparison value"),
    ({"type": "PATH", "compare_type": "REGEX", "value": "^/(a"},
     "Unable to parse regular expression: missing ), unterminated subpattern at position 2"),
    ({"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"}, "invalid comparison type for rule type"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "key": "k", "value": "true"},
     'L7rule type SSL_CONN_HAS_CERT does not use the "key" field.'),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "false"},
     "L7rule value false is not a boolean True string."),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "CONTAINS", "value": "True"},
     "L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type."),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"},
     "L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "STARTS_WITH", "value": "0"},
     "L7rule type SSL_VERIFY_RESULT only supports the EQUAL_TO compare type."),
    ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "value": "x"},
     "L7rule type SSL_DN_FIELD needs to specify a key and a value."),
    ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "1CN", "value": "x"},
     "Invalid L7rule distinguished name field."),
    ({"type": "SSL_DN_FIELD", "compare_type": "REGEX", "key": "CN", "value": "("},
     "Unable to parse regular expression: missing ), unterminated subpattern at position 0"),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": ""}, "L7 rule type requires a value"),
]

VALID_RULES: list[dict[str, Any]] = [
    {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "www.example.com"},
    {"type": "PATH", "compare_type": "REGEX", "value": "^/api/(v1|v2)/.*$", "invert": True},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg"},
    {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Trace", "value": "\"a quoted value\""},
    {"type": "COOKIE", "compare_type": "STARTS_WITH", "key": "session", "value": "abc!#$%&'()*+-./:<=>?@[]^_`{|}~"},
    {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "TRUE"},
    {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
    {"type": "SSL_DN_FIELD", "compare_type": "ENDS_WITH", "key": "CN", "value": "example.com"},
    {"type": "SSL_DN_FIELD", "compare_type": "REGEX", "key": "OU-Name", "value": "^eng.*"},
]


def test_rule_validation_matrix_and_lifecycle(api: Api, controller: Any) -> None:
    lb = api.create_lb()
    lb_id = lb["id"]
    lid = create_listener(api, lb_id, protocol="TERMINATED_HTTPS", protocol_port=443,
                          default_tls_container_ref=tls_secrets.store_refs(controller).cert)["id"]
    policy = create_policy(api, lb_id, lid, action="REJECT")
    pid = policy["id"]

    for body, why in RULE_ERRORS:
        assert fault(api.post(rules_of(pid), {"rule": body})) == (
            400, f"Error parsing L7Rule: Invalid L7 Rule: {why}"), body
    for body, message in [
            ({"type": "PATH", "compare_type": "EQUAL_TO"},
             "Invalid input for field/attribute value. Value: 'None'. Mandatory field missing."),
            ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "x" * 256},
             f"Invalid input for field/attribute value. Value: '{'x' * 256}'. Value should have a maximum "
             f"character requirement of 255"),
            ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x", "weight": 1},
             "Unknown attribute for argument rule: weight"),
            ({"type": "PATH", "compare_type": "EQUAL_TO", "value": 7},
             "Invalid input for field/attribute value. Value: '7'. Value should be string")]:
        assert fault(api.post(rules_of(pid), {"rule": body})) == (400, message), body
    newline = api.post(rules_of(pid), {"rule": {"type": "PATH", "compare_type": "REGEX", "value": "a\nb"}})
    assert newline.status_code == 400
    assert newline.json()["faultstring"].startswith("Invalid input for field/attribute value.")
    assert fault(api.post(rules_of(pid), {"rule": {"type": "QUERY", "compare_type": "EQUAL_TO", "value": "x"}}))[
        1].startswith("Invalid input for field/attribute type. Value: 'QUERY'. Value should be one of: ")
    assert routing_404(api.post(rules_of(MISSING), {"rule": VALID_RULES[0]})) == (404, f"L7Policy {MISSING} not found.")
    assert api.get(rules_of(pid)).json() == {"rules": [], "rules_links": []}

    # Every valid shape of the matrix, created with a policy in one request.
    resp = api.post(POLICIES, {"l7policy": {"listener_id": lid, "action": "REJECT", "rules": VALID_RULES}})
    assert resp.status_code == 201, resp.text
    full_pid = resp.json()["l7policy"]["id"]
    assert len(resp.json()["l7policy"]["rules"]) == len(VALID_RULES)
    api.wait_lb(lb_id)
    listed = api.get(f"{rules_of(full_pid)}?limit=1000").json()["rules"]
    assert sorted((r["type"], r["compare_type"], r["key"], r["value"], r["invert"]) for r in listed) == sorted(
        (r["type"], r["compare_type"], r.get("key"), r["value"], r.get("invert", False)) for r in VALID_RULES)
    assert {(r["provisioning_status"], r["operating_status"], r["tenant_id"]) for r in listed} == {
        ("ACTIVE", "ONLINE", "p1")}

    # One rule through its lifecycle.
    resp = api.post(rules_of(pid), {"rule": {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A",
                                             "value": "1", "tags": ["r"]}})
    assert resp.status_code == 201, resp.text
    rule = resp.json()["rule"]
    expected = {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A", "value": "1", "invert": False,
                "admin_state_up": True, "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE",
                "project_id": "p1", "tenant_id": "p1", "tags": ["r"], "updated_at": None}
    assert {k: rule[k] for k in expected} == expected
    assert set(rule) == set(expected) | {"id", "created_at"}
    rid = rule["id"]
    api.wait_lb(lb_id)
    assert api.get(f"{POLICIES}/{pid}").json()["l7policy"]["rules"] == [{"id": rid}]
    assert api.get(f"{rules_of(pid)}/{rid}").json()["rule"]["provisioning_status"] == "ACTIVE"
    assert fault(api.get(f"{rules_of(full_pid)}/{rid}")) == (404, f"L7 Rule {rid} not found.")
    assert fault(api.put(f"{rules_of(full_pid)}/{rid}", {"rule": {"value": "2"}})) == (404, f"L7 Rule {rid} not found.")
    assert fault(api.delete(f"{rules_of(full_pid)}/{rid}")) == (404, f"L7 Rule {rid} not found.")
    for call in (api.get, api.delete, lambda path: api.put(path, {"rule": {"value": "2"}})):
        assert routing_404(call(f"{rules_of(MISSING)}/{rid}")) == (404, f"L7Policy {MISSING} not found.")
    # PUT validates the merged rule.
    for body, why in [({"type": "SSL_CONN_HAS_CERT"}, 'L7rule type SSL_CONN_HAS_CERT does not use the "key" field.'),
                      ({"key": None}, "L7 rule type requires a key"),
                      ({"compare_type": "REGEX", "value": "["},
                       "Unable to parse regular expression: unterminated character set at position 0"),
                      ({"value": None}, "L7 rule type requires a value")]:
        assert fault(api.put(f"{rules_of(pid)}/{rid}", {"rule": body})) == (
            400, f"Error parsing L7Rule: Invalid L7 Rule: {why}"), body
    resp = api.put(f"{rules_of(pid)}/{rid}", {"rule": {"type": "PATH", "value": "/p", "invert": True}})
    assert resp.status_code == 200, resp.text
    upd = resp.json()["rule"]
    assert (upd["type"], upd["key"], upd["value"], upd["invert"], upd["provisioning_status"]) == (
        "PATH", "X-A", "/p", True, "PENDING_UPDATE")
    api.wait_lb(lb_id)
    upd = api.put(f"{rules_of(pid)}/{rid}", {"rule": {"invert": None, "tags": []}}).json()["rule"]
    assert (upd["invert"], upd["tags"]) == (False, [])
    api.wait_lb(lb_id)

    # A policy in ERROR takes no rule changes (its LB being ACTIVE is not enough).
    with controller.db.session() as session:
        session.get_one(L7Policy, pid).provisioning_status = "ERROR"
    immutable = (409, f"L7Policy {pid} is immutable and cannot be updated.")
    assert fault(api.post(rules_of(pid), {"rule": VALID_RULES[0]})) == immutable
    assert fault(api.put(f"{rules_of(pid)}/{rid}", {"rule": {"value": "/q"}})) == immutable
    assert fault(api.delete(f"{rules_of(pid)}/{rid}")) == immutable
    with controller.db.session() as session:
        session.get_one(L7Policy, pid).provisioning_status = "ACTIVE"

    assert api.delete(f"{rules_of(pid)}/{rid}").status_code == 204
    api.wait_lb(lb_id)
    assert fault(api.get(f"{rules_of(pid)}/{rid}")) == (404, f"L7 Rule {rid} not found.")

    # Listing rules: filters, sorting, pagination, under the policy only.
    assert [r["value"] for r in api.get(f"{rules_of(full_pid)}?type=SSL_DN_FIELD&sort=compare_type:desc").json()[
        "rules"]] == ["^eng.*", "example.com"]
    assert [r["type"] for r in api.get(f"{rules_of(full_pid)}?invert=true").json()["rules"]] == ["PATH"]
    page = api.get(f"{rules_of(full_pid)}?limit=4").json()
    assert len(page["rules"]) == 4
    (nxt,) = page["rules_links"]
    assert parse_qs(urlparse(nxt["href"]).query)["marker"] == [page["rules"][-1]["id"]]
    assert fault(api.get(f"{rules_of(full_pid)}?colour=red")) == (400, "One or more arguments are either duplicate "
                                                                       "or invalid")
    assert routing_404(api.get(rules_of(MISSING))) == (404, f"L7Policy {MISSING} not found.")

    # At most 50 rules per policy.
    fifty = [{"type": "PATH", "compare_type": "STARTS_WITH", "value": f"/r{i}"} for i in range(50)]
    resp = api.post(POLICIES, {"l7policy": {"listener_id": lid, "action": "REJECT", "rules": fifty}})
    assert resp.status_code == 201, resp.text
    big = resp.json()["l7policy"]["id"]
    api.wait_lb(lb_id)
    assert fault(api.post(rules_of(big), {"rule": VALID_RULES[0]})) == (409, f"Too many rules on L7 policy {big}")
    resp = api.post(POLICIES, {"l7policy": {"listener_id": lid, "action": "REJECT", "rules": [*fifty, fifty[0]]}})
    assert resp.status_code == 409
    assert resp.json()["faultstring"].startswith("Too many rules on L7 policy ")
    assert len(api.get(f"{POLICIES}?listener_id={lid}").json()["l7policies"]) == 3
