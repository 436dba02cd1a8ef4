"""The RBAC proof (§7): every v2 route × every role × own and other project, against the suite's real Keystone.

What each case must answer is derived from Octavia's default rules as written out here (BLOCKS, RULES and the
ROUTES table), never from `ostia.api.policy`, so a wrong default in Ostia fails this module. Allowed requests
that would change state either fail after the policy check on purpose (a duplicate, a missing reference: the
status proves policy passed) or run in a serial second phase on throw-away objects, each followed by a wait for
the load balancer to settle, so the cases do not depend on their order.

Another project's object is a 403, as in Octavia's controllers (they load the row, then check the policy against
its owner's project), not a 404; a list is cut to the caller's project unless the caller reads globally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import keystone as keystone_support
from tests.support.keystone import RBAC_ROLES, KeystoneCloud, rbac_user
from tests.support.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.keystone]

PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"
MISSING = "00000000-0000-4000-8000-00000000dead"  # a well-formed id nothing has
POLICY = "Policy does not allow this request to be performed."
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}
PROJECTS = ("a", "b")
# The callers come from project_a: own = project_a's objects, other = project_b's (made by project_b's member).
# project_b's users mirror them and act in the quota test.
CALLERS = ("a",)
RUN = uuid.uuid4().hex[:8]  # catalog names are global: unique per run

# -- Octavia's defaults, written out (octavia/policies/{base,keystone_default_roles,advanced_rbac}.py) ---------
# Each building block: the roles that satisfy it, and whether the caller must also own the target (the rule
# `project_id:%(project_id)s`). The legacy load-balancer_* roles are the deprecated alternatives oslo.policy
# still honours while [oslo_policy] enforce_new_defaults is off (octavia-api.md §7.3).
BLOCKS: dict[str, tuple[frozenset[str], bool]] = {
    "admin": (frozenset({"admin", "load-balancer_admin"}), False),
    "global_observer": (frozenset({"admin", "load-balancer_global_observer"}), False),
    "member_and_owner": (frozenset({"member", "load-balancer_member"}), True),
    "observer_and_owner": (frozenset({"reader", "load-balancer_observer"}), True),
    "quota-admin": (frozenset({"admin", "load-balancer_quota_admin"}), False),
}
RULES: dict[str, tuple[str, ...]] = {
    "read": ("observer_and_owner", "global_observer", "member_and_owner", "admin"),
    "read-global": ("global_observer", "admin"),
    "write": ("member_and_owner", "admin"),
    "read-quota": ("observer_and_owner", "global_observer", "member_and_owner", "quota-admin", "admin"),
    "read-quota-global": ("global_observer", "quota-admin", "admin"),
    "write-quota": ("quota-admin", "admin"),
    "admin": ("admin",),
}
# Keystone's default implied roles: a token for `admin` also carries member and reader.
IMPLIED = {"admin": {"member", "reader"}, "member": {"reader"}}


def passes(rule: str, keystone_role: str, owner: bool) -> bool:
    held = {keystone_role, *IMPLIED.get(keystone_role, ())}
    return any(held & BLOCKS[block][0] and (owner or not BLOCKS[block][1]) for block in RULES[rule])


# -- the routes ---------------------------------------------------------------------------------------------------
OBJECT, CALLER, DEFAULTS = "object", "caller", "defaults"  # what the policy target is (see Route.target)
Body = Callable[[dict[str, str]], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Listing:
    key: str                  # the collection's key
    obj: str                  # the fixture object that must be listed
    global_rule: str | None   # the `get_all-global` rule; None for sub-collections, scoped by their parent
    field: str = "id"         # what identifies `obj` in an item
    scoped: bool = True       # items carry project_id


@dataclasses.dataclass(frozen=True)
class Route:
    policy: str           # Octavia's policy name, after `os_load-balancer_api:`
    method: str
    path: str             # under /v2, formatted with the target project's objects
    rule: str             # Octavia's default rule
    ok: int               # the answer when policy allows (for some writes: the failure that comes after policy)
    body: Body | None = None
    target: str = OBJECT  # OBJECT: the project owning the object; CALLER: the caller's own; DEFAULTS: "defaults"
    serial: bool = False  # allowed calls change state: phase 2, one at a time, then wait for the LB
    throwaway: str = ""   # allowed calls delete: phase 2 creates this kind of object for each
    listing: Listing | None = None


def crud(kind: str, plural: str, obj: str, create: Body, update: Body, create_fails: int) -> list[Route]:
    """The five routes of a top-level LB child: list, create (made to fail after policy), show, update, delete."""
    one = f"/lbaas/{plural}/{{{obj}}}"
    return [
        Route(f"{kind}:get_all", "GET", f"/lbaas/{plural}", "read", 200,
              listing=Listing(plural, obj, "read-global")),
        Route(f"{kind}:post", "POST", f"/lbaas/{plural}", "write", create_fails, body=create),
        Route(f"{kind}:get_one", "GET", one, "read", 200),
        Route(f"{kind}:put", "PUT", one, "write", 200, body=update, serial=True),
        Route(f"{kind}:delete", "DELETE", one, "write", 204, throwaway=obj),
    ]


LB = "/lbaas/loadbalancers/{lb}"
MEMBERS = "/lbaas/pools/{pool}/members"
RULES_PATH = "/lbaas/l7policies/{l7policy}/rules"
HM_BODY = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}

ROUTES: list[Route] = [
    # load balancers (§2.1)
    Route("loadbalancer:get_all", "GET", "/lbaas/loadbalancers", "read", 200,
          listing=Listing("loadbalancers", "lb", "read-global")),
    # a flavor that does not exist: 400 "Invalid flavor_id." comes after policy (the target is the body's project)
    Route("loadbalancer:post", "POST", "/lbaas/loadbalancers", "write", 400,
          body=lambda o: {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, "project_id": o["project"],
                                           "flavor_id": MISSING}}),
    Route("loadbalancer:get_one", "GET", LB, "read", 200),
    Route("loadbalancer:put", "PUT", LB, "write", 200, body=lambda o: {"loadbalancer": {"description": "rbac"}},
          serial=True),
    # without cascade an LB with children is refused after policy (400)
    Route("loadbalancer:delete", "DELETE", LB, "write", 400),
    Route("loadbalancer:get_stats", "GET", LB + "/stats", "read", 200),
    Route("loadbalancer:get_status", "GET", LB + "/status", "read", 200),
    Route("loadbalancer:get_status", "GET", LB + "/statuses", "read", 200),
    Route("loadbalancer:put_failover", "PUT", LB + "/failover", "admin", 202, serial=True),
    # listeners (§2.2): the fixture's HTTP:80 taken again is a 409 after policy
    *crud("listener", "listeners", "listener",
          lambda o: {"listener": {"loadbalancer_id": o["lb"], "protocol": "HTTP", "protocol_port": 80}},
          lambda o: {"listener": {"description": "rbac"}}, 409),
    Route("listener:get_stats", "GET", "/lbaas/listeners/{listener}/stats", "read", 200),
    # pools (§2.3): a second default pool for the listener is a 409; the pool an L7 policy redirects to cannot go
    *crud("pool", "pools", "pool",
          lambda o: {"pool": {"listener_id": o["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
          lambda o: {"pool": {"description": "rbac"}}, 409)[:4],
    Route("pool:delete", "DELETE", "/lbaas/pools/{pool}", "write", 409),
    # members (§2.4): the fixture member's address again is a 409; the batch naming exactly the current members
    # changes nothing (202, no job)
    Route("member:get_all", "GET", MEMBERS, "read", 200, listing=Listing("members", "member", None)),
    Route("member:post", "POST", MEMBERS, "write", 409,
          body=lambda o: {"member": {"address": o["member_address"], "protocol_port": 80}}),
    Route("member:put", "PUT", MEMBERS, "write", 202,
          body=lambda o: {"members": [{"address": o["member_address"], "protocol_port": 80}]}),
    Route("member:get_one", "GET", MEMBERS + "/{member}", "read", 200),
    Route("member:put", "PUT", MEMBERS + "/{member}", "write", 200, body=lambda o: {"member": {"weight": 1}},
          serial=True),
    Route("member:delete", "DELETE", MEMBERS + "/{member}", "write", 204, throwaway="member"),
    # health monitors (§2.5): the pool already has one (409)
    *crud("healthmonitor", "healthmonitors", "hm", lambda o: {"healthmonitor": {"pool_id": o["pool"], **HM_BODY}},
          lambda o: {"healthmonitor": {"delay": 5}}, 409),
    # L7 policies (§2.6): a redirect to a pool that does not exist is a 404 after policy
    *crud("l7policy", "l7policies", "l7policy",
          lambda o: {"l7policy": {"listener_id": o["listener"], "action": "REDIRECT_TO_POOL",
                                  "redirect_pool_id": MISSING}},
          lambda o: {"l7policy": {"description": "rbac"}}, 404),
    # L7 rules (§2.7): a HEADER rule without its key is refused by the semantic check after policy (400)
    Route("l7rule:get_all", "GET", RULES_PATH, "read", 200, listing=Listing("rules", "l7rule", None)),
    Route("l7rule:post", "POST", RULES_PATH, "write", 400,
          body=lambda o: {"rule": {"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}}),
    Route("l7rule:get_one", "GET", RULES_PATH + "/{l7rule}", "read", 200),
    Route("l7rule:put", "PUT", RULES_PATH + "/{l7rule}", "write", 200, body=lambda o: {"rule": {"value": "/rbac"}},
          serial=True),
    Route("l7rule:delete", "DELETE", RULES_PATH + "/{l7rule}", "write", 204, throwaway="l7rule"),
    # quotas (§6): the fixture gave both projects a record, so PUT (resetting a default field) and DELETE repeat
    Route("quota:get_all", "GET", "/lbaas/quotas", "read-quota", 200,
          listing=Listing("quotas", "project", "read-quota-global", field="project_id")),
    Route("quota:get_one", "GET", "/lbaas/quotas/defaults", "read-quota", 200, target=DEFAULTS),
    Route("quota:get_one", "GET", "/lbaas/quotas/{project}", "read-quota", 200),
    Route("quota:get_defaults", "GET", "/lbaas/quotas/{project}/default", "read-quota", 200),
    Route("quota:put", "PUT", "/lbaas/quotas/{project}", "write-quota", 202,
          body=lambda o: {"quota": {"l7rule": None}}),
    Route("quota:delete", "DELETE", "/lbaas/quotas/{project}", "write-quota", 202),
    # providers (§2.10)
    Route("provider:get_all", "GET", "/lbaas/providers", "read", 200, target=CALLER,
          listing=Listing("providers", "provider", None, field="name", scoped=False)),
    Route("provider-flavor:get_all", "GET", "/lbaas/providers/amphora/flavor_capabilities", "admin", 200,
          target=CALLER),
    Route("provider-availability-zone:get_all", "GET", "/lbaas/providers/amphora/availability_zone_capabilities",
          "admin", 200, target=CALLER),
]


def catalog(kind: str, plural: str, key: str, obj: str, read: str, create: Body, create_fails: int,
            field: str = "id") -> list[Route]:
    """Flavors, AZs and their profiles (§2.11): no owner, the policy target is the caller's project. Writes
    meet a duplicate or invalid body (create) or an id nothing has (update, delete): failures after policy."""
    one = f"/lbaas/{plural}/{{{obj}}}"
    missing = f"/lbaas/{plural}/{MISSING}"
    (root,) = create({})  # the body's root key, for the update
    return [
        Route(f"{kind}:get_all", "GET", f"/lbaas/{plural}", read, 200, target=CALLER,
              listing=Listing(key, obj, None, field=field, scoped=False)),
        Route(f"{kind}:post", "POST", f"/lbaas/{plural}", "admin", create_fails, body=create, target=CALLER),
        Route(f"{kind}:get_one", "GET", one, read, 200, target=CALLER),
        Route(f"{kind}:put", "PUT", missing, "admin", 404, body=lambda o: {root: {"name": "x"}}
              if kind.endswith("profile") else {root: {"description": "x"}}, target=CALLER),
        Route(f"{kind}:delete", "DELETE", missing, "admin", 404, target=CALLER),
    ]


ROUTES += [
    *catalog("flavor", "flavors", "flavors", "flavor", "read",
             lambda o: {"flavor": {"name": o.get("flavor_name", ""), "flavor_profile_id": o.get("flavorprofile")}},
             409),
    *catalog("flavor-profile", "flavorprofiles", "flavorprofiles", "flavorprofile", "admin",
             lambda o: {"flavorprofile": {"name": "bad", "provider_name": "amphora", "flavor_data": "{not json"}},
             400),
    *catalog("availability-zone", "availabilityzones", "availability_zones", "az", "read",
             lambda o: {"availability_zone": {"name": o.get("az", ""),
                                              "availability_zone_profile_id": o.get("azprofile")}}, 409,
             field="name"),
    *catalog("availability-zone-profile", "availabilityzoneprofiles", "availability_zone_profiles", "azprofile",
             "admin",
             lambda o: {"availability_zone_profile": {"name": "bad", "provider_name": "amphora",
                                                      "availability_zone_data": "{not json"}}, 400),
    # amphorae (§2.9), admin only; an ALLOCATED amphora cannot be deleted (409 after policy)
    Route("amphora:get_all", "GET", "/octavia/amphorae", "admin", 200,
          listing=Listing("amphorae", "amphora", None, scoped=False)),
    Route("amphora:get_one", "GET", "/octavia/amphorae/{amphora}", "admin", 200),
    Route("amphora:get_stats", "GET", "/octavia/amphorae/{amphora}/stats", "admin", 404),
    Route("amphora:delete", "DELETE", "/octavia/amphorae/{amphora}", "admin", 409),
    Route("amphora:put_config", "PUT", "/octavia/amphorae/{amphora}/config", "admin", 202),
    Route("amphora:put_failover", "PUT", "/octavia/amphorae/{amphora}/failover", "admin", 202, serial=True),
    # Ostia's own addition (not Octavia's): the failover timeline names amphorae, so admin only
    Route("loadbalancer:get_failover_timeline", "GET", LB + "/failover_timeline", "admin", 200),
]


# -- the callers and the cases -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    route: Route
    role: str            # key of RBAC_ROLES
    caller: str          # "a"/"b": the caller's project
    target: str          # "a"/"b": the project whose objects the request names

    @property
    def user(self) -> str:
        return rbac_user(self.role, self.caller)

    def allowed(self) -> bool:
        owner = {OBJECT: self.caller == self.target, CALLER: True, DEFAULTS: False}[self.route.target]
        return passes(self.route.rule, RBAC_ROLES[self.role], owner)

    def __str__(self) -> str:
        return (f"{self.route.method} {self.route.path} [{self.route.policy}] {self.role}@{self.caller}"
                f" -> project {self.target}")


def matrix_cases() -> list[Case]:
    cases = []
    for route in ROUTES:
        # A route whose policy target does not depend on the named objects runs once per caller.
        targets = PROJECTS if route.target == OBJECT or route.listing and route.listing.global_rule else (None,)
        for role, caller, target in itertools.product(RBAC_ROLES, CALLERS, targets):
            cases.append(Case(route, role, caller, target or caller))
    return cases


@dataclasses.dataclass
class World:
    cloud: KeystoneCloud
    clients: dict[str, httpx.Client]
    anonymous: httpx.Client  # no token
    objects: dict[str, dict[str, str]]  # project key → names used in paths and bodies
    counter: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(11))

    def admin(self, project: str) -> httpx.Client:
        return self.clients[rbac_user("admin", project)]


def ok(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return dict(resp.json()) if resp.content else {}


def settle(client: httpx.Client, lb_id: str, timeout: float = 60) -> None:
    """Until the LB is ACTIVE again after a change (noop drivers: a fraction of a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ok(client.get(f"/v2/lbaas/loadbalancers/{lb_id}"), 200)["loadbalancer"]["provisioning_status"]
        if status == "ACTIVE":
            return
        assert status != "ERROR", lb_id
        time.sleep(0.05)
    raise AssertionError(f"LB {lb_id} did not settle in {timeout}s")


def create_child(client: httpx.Client, lb_id: str, path: str, body: dict[str, Any]) -> str:
    (root,) = body
    made = ok(client.post(f"/v2{path}", json=body), 201)[root]["id"]
    settle(client, lb_id)
    return str(made)


def build_project(world: World, p: str) -> None:
    """One of each object in project_<p>, made by that project's member (the realistic owner)."""
    member = world.clients[rbac_user("member", p)]
    o = world.objects[p]
    lb = ok(member.post("/v2/lbaas/loadbalancers",
                        json={"loadbalancer": {"name": f"rbac-{p}", "vip_subnet_id": PUBLIC_SUBNET}}), 201)
    o["lb"] = lb["loadbalancer"]["id"]
    settle(member, o["lb"])
    o["listener"] = create_child(member, o["lb"], "/lbaas/listeners", {"listener": {
        "loadbalancer_id": o["lb"], "protocol": "HTTP", "protocol_port": 80}})
    o["pool"] = create_child(member, o["lb"], "/lbaas/pools", {"pool": {
        "listener_id": o["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    o["pool2"] = create_child(member, o["lb"], "/lbaas/pools", {"pool": {  # for throw-away health monitors
        "loadbalancer_id": o["lb"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    o["member_address"] = "192.0.2.10"
    o["member"] = create_child(member, o["lb"], f"/lbaas/pools/{o['pool']}/members", {"member": {
        "address": o["member_address"], "protocol_port": 80}})
    o["hm"] = create_child(member, o["lb"], "/lbaas/healthmonitors", {"healthmonitor": {
        "pool_id": o["pool"], **HM_BODY}})
    o["l7policy"] = create_child(member, o["lb"], "/lbaas/l7policies", {"l7policy": {
        "listener_id": o["listener"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": o["pool"]}})
    o["l7rule"] = create_child(member, o["lb"], f"/lbaas/l7policies/{o['l7policy']}/rules", {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/rbac"}})
    refresh_amphora(world, p)
    # A quota record (all defaults) so that quota PUT and DELETE answer the same whatever ran before.
    ok(world.admin(p).put(f"/v2/lbaas/quotas/{o['project']}", json={"quota": {"l7rule": None}}), 202)


def refresh_amphora(world: World, p: str) -> None:
    """The LB's current amphora (a failover replaces it)."""
    o = world.objects[p]
    amps = ok(world.admin(p).get("/v2/octavia/amphorae", params={"loadbalancer_id": o["lb"]}), 200)["amphorae"]
    live = [a for a in amps if a["status"] == "ALLOCATED"]
    assert live, amps
    o["amphora"] = live[0]["id"]


def build_catalog(world: World) -> dict[str, str]:
    admin = world.admin("a")
    fp = ok(admin.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": f"rbac-fp-{RUN}", "provider_name": "amphora", "flavor_data": "{}"}}), 201)["flavorprofile"]["id"]
    flavor = ok(admin.post("/v2/lbaas/flavors", json={"flavor": {
        "name": f"rbac-flavor-{RUN}", "flavor_profile_id": fp}}), 201)["flavor"]["id"]
    azp = ok(admin.post("/v2/lbaas/availabilityzoneprofiles", json={"availability_zone_profile": {
        "name": f"rbac-azp-{RUN}", "provider_name": "amphora", "availability_zone_data": "{}"}}),
        201)["availability_zone_profile"]["id"]
    ok(admin.post("/v2/lbaas/availabilityzones", json={"availability_zone": {
        "name": f"rbac-az-{RUN}", "availability_zone_profile_id": azp}}), 201)
    return {"flavorprofile": fp, "flavor": flavor, "flavor_name": f"rbac-flavor-{RUN}", "azprofile": azp,
            "az": f"rbac-az-{RUN}", "provider": "amphora"}


def remove_all(world: World) -> None:
    """The module's objects go again: the session's Ostia is shared with other modules."""
    admin = world.admin("a")
    for p in PROJECTS:
        if "lb" in world.objects[p]:
            admin.delete(f"/v2/lbaas/loadbalancers/{world.objects[p]['lb']}", params={"cascade": "true"})
    o = world.objects["a"]
    for path in (f"availabilityzones/{o.get('az')}", f"availabilityzoneprofiles/{o.get('azprofile')}",
                 f"flavors/{o.get('flavor')}", f"flavorprofiles/{o.get('flavorprofile')}"):
        admin.delete(f"/v2/lbaas/{path}")


# One rule changed: listing load balancers needs the role Ostia otherwise ignores, and nothing else.
OVERRIDE = '"os_load-balancer_api:loadbalancer:get_all": "role:unrelated"\n'


@pytest.fixture(scope="module")
def override_server(keystone: KeystoneCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[str]]:
    """A second, short-lived Ostia in keystone mode with a policy file, booting while the matrix runs."""
    workdir = tmp_path_factory.mktemp("ostia-policy")
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(OVERRIDE)
    server = keystone_support.running_ostia(workdir, keystone.auth_url, free_port(),
                                            extra_conf=f"[oslo_policy]\npolicy_file = {policy_file}\n")
    with ThreadPoolExecutor(1) as pool:
        url = pool.submit(server.__enter__)
        try:
            yield url
        finally:
            if url.exception() is None:  # (waits for the boot) a server that never came up has nothing to stop
                server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def world(keystone: KeystoneCloud, override_server: Future[str]) -> Iterator[World]:
    """Tokens, clients and the objects of both projects (override_server: asked for only to boot it meanwhile)."""
    users = [rbac_user(role, p) for p in PROJECTS for role in RBAC_ROLES]
    with ThreadPoolExecutor(4) as pool:  # one token per user, fetched once
        list(pool.map(keystone.token, [*users, "admin"]))
    with contextlib.ExitStack() as stack:
        clients = {user: stack.enter_context(keystone.client(user)) for user in users}
        objects = {p: {"project": keystone.projects[f"project_{p}"]} for p in PROJECTS}
        w = World(keystone, clients, stack.enter_context(keystone.client(None)), objects)
        try:
            with ThreadPoolExecutor(3) as pool:
                shared = pool.submit(build_catalog, w)
                list(pool.map(lambda p: build_project(w, p), PROJECTS))
                for p in PROJECTS:
                    objects[p].update(shared.result())
            yield w
        finally:
            remove_all(w)


# -- running and judging one case ------------------------------------------------------------------------------
def request(client: httpx.Client, route: Route, objs: dict[str, str], params: dict[str, str] | None = None
            ) -> httpx.Response:
    body = route.body(objs) if route.body else None
    return client.request(route.method, "/v2" + route.path.format(**objs), json=body, params=params)


def run_case(world: World, case: Case, objs: dict[str, str] | None = None) -> str | None:
    """None if the answer is what Octavia's defaults say, else what went wrong."""
    route = case.route
    objs = objs or world.objects[case.target]
    params = None
    if route.listing and route.listing.global_rule and case.target != case.caller:
        params = {"project_id": objs["project"]}  # another project's list: the get_all-global path
    resp = request(world.clients[case.user], route, objs, params)
    allowed = case.allowed()
    if route.listing and route.listing.global_rule and params:
        allowed = passes(route.listing.global_rule, RBAC_ROLES[case.role], False) or allowed
    if not allowed:
        if resp.status_code != 403 or resp.json().get("faultstring") != POLICY:
            return f"{case}: expected 403 policy, got {resp.status_code} {resp.text[:200]}"
        return None
    if resp.status_code != route.ok:
        return f"{case}: expected {route.ok}, got {resp.status_code} {resp.text[:200]}"
    if route.listing:
        return judge_listing(world, case, resp.json(), bool(params))
    return None


def judge_listing(world: World, case: Case, body: dict[str, Any], asked_other: bool) -> str | None:
    listing = case.route.listing
    assert listing is not None
    items = body[listing.key]
    seen = {item[listing.field] for item in items}
    own = world.objects[case.target]
    if own[listing.obj] not in seen:
        return f"{case}: {own[listing.obj]} missing from the list"
    if not listing.scoped or not listing.global_rule:
        return None
    projects = {item["project_id"] for item in items}
    if asked_other:
        wanted = {own["project"]}
    elif passes(listing.global_rule, RBAC_ROLES[case.role], False):
        other = world.objects[next(p for p in PROJECTS if p != case.caller)]
        if other[listing.obj] not in seen:
            return f"{case}: a global reader misses the other project's {other[listing.obj]}"
        return None
    else:
        wanted = {own["project"]}
    if projects - wanted:
        return f"{case}: the list leaks projects {projects - wanted}"
    return None


THROWAWAY: dict[str, Callable[[dict[str, str], int], tuple[str, dict[str, Any]]]] = {
    "listener": lambda o, n: ("/lbaas/listeners", {"listener": {
        "loadbalancer_id": o["lb"], "protocol": "TCP", "protocol_port": 1000 + n}}),
    "member": lambda o, n: (f"/lbaas/pools/{o['pool']}/members", {"member": {
        "address": f"192.0.2.{n % 200 + 20}", "protocol_port": 80}}),
    "hm": lambda o, n: ("/lbaas/healthmonitors", {"healthmonitor": {"pool_id": o["pool2"], **HM_BODY}}),
    "l7policy": lambda o, n: ("/lbaas/l7policies", {"l7policy": {"listener_id": o["listener"], "action": "REJECT"}}),
    "l7rule": lambda o, n: (f"/lbaas/l7policies/{o['l7policy']}/rules", {"rule": {
        "type": "PATH", "compare_type": "EQUAL_TO", "value": f"/t{n}"}}),
}


def run_serial(world: World, case: Case) -> str | None:
    """An allowed call that changes state: on a throw-away object when it deletes; then wait for the LB."""
    objs = dict(world.objects[case.target])
    admin = world.admin(case.target)
    if case.route.throwaway:
        path, body = THROWAWAY[case.route.throwaway](objs, next(world.counter))
        objs[case.route.throwaway] = create_child(admin, objs["lb"], path, body)
    problem = run_case(world, case, objs)
    settle(admin, objs["lb"])
    if "failover" in case.route.policy:
        refresh_amphora(world, case.target)
    return problem


def phases(cases: list[Case]) -> tuple[list[Case], dict[str, list[Case]]]:
    """Phase 1: every call that changes nothing (reads, refusals, failures after policy), in any order.
    Phase 2: the allowed state changes, serial per target project."""
    first: list[Case] = []
    second: dict[str, list[Case]] = {p: [] for p in PROJECTS}
    for case in cases:
        if (case.route.serial or case.route.throwaway) and case.allowed():
            second[case.target].append(case)
        else:
            first.append(case)
    return first, second


def test_policy_matrix_matches_octavia_defaults(world: World) -> None:
    cases = matrix_cases()
    first, second = phases(cases)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(lambda c: run_case(world, c), first) if p]
        halfway = time.monotonic()
        for batch in pool.map(lambda p: [run_serial(world, c) for c in second[p]], PROJECTS):
            problems += [p for p in batch if p]
    print(f"\nRBAC matrix: {len(cases)} (route, role, project) cases: {len(first)} in phase 1 "
          f"({halfway - started:.1f} s), {sum(map(len, second.values()))} serial ({time.monotonic() - halfway:.1f} s)")
    assert not problems, f"{len(problems)} of {len(cases)} cases differ from Octavia's defaults:\n" + \
        "\n".join(problems)


# Token validation does not depend on the route; a bad token costs a Keystone round trip each time, so the
# routes below (one of each kind of policy target) carry the bad and the revoked token, every route no token.
TOKEN_ROUTES = ("loadbalancer:get_all", "loadbalancer:post", "member:get_one", "quota:put", "amphora:get_all",
                "flavor:delete")


def test_every_route_refuses_missing_bad_and_revoked_tokens(world: World, keystone: KeystoneCloud) -> None:
    revoked = keystone.fresh_token(rbac_user("member", "a"))
    keystone.revoke(revoked)  # never shown to Ostia before, so its auth_token cannot have cached it as valid
    objs = world.objects["a"]
    rows: list[tuple[Route, str | None]] = [(route, None) for route in ROUTES]
    rows += [(route, token) for route in ROUTES if route.policy in TOKEN_ROUTES for token in ("not-a-token", revoked)]
    assert len(rows) == len(ROUTES) + 2 * len(TOKEN_ROUTES)

    def anonymous(route: Route, token: str | None) -> str | None:
        headers = {"X-Auth-Token": token} if token else {}
        body = route.body(objs) if route.body else None
        resp = world.anonymous.request(route.method, "/v2" + route.path.format(**objs), json=body, headers=headers)
        if resp.status_code != 401 or resp.json() != UNAUTHORIZED:
            return f"{route.method} {route.path} with {token!r}: {resp.status_code} {resp.text[:200]}"
        return None

    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(lambda row: anonymous(*row), rows) if p]
    assert not problems, "\n".join(problems)
    # The same user's live token still works: the refusal was the revocation, not the user.
    assert world.clients[rbac_user("member", "a")].get("/v2/lbaas/loadbalancers").status_code == 200


def refused(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json()["faultstring"] == POLICY


def test_quotas_are_enforced_per_project_and_set_only_by_quota_admins(world: World) -> None:
    a, b = world.objects["a"], world.objects["b"]
    member_a, member_b = world.clients[rbac_user("member", "a")], world.clients[rbac_user("member", "b")]
    quota_admin_b = world.clients[rbac_user("quota_admin", "b")]  # a quota admin of the *other* project
    for project in (a, b):  # a member sets no quota, not even its own project's
        refused(member_a.put(f"/v2/lbaas/quotas/{project['project']}", json={"quota": {"loadbalancer": 100}}))
    try:
        quota = ok(quota_admin_b.put(f"/v2/lbaas/quotas/{a['project']}",
                                     json={"quota": {"loadbalancer": 1, "listener": 1}}), 202)["quota"]
        assert (quota["loadbalancer"], quota["load_balancer"], quota["listener"]) == (1, 1, 1)
        shown = ok(world.clients[rbac_user("observer", "a")].get(f"/v2/lbaas/quotas/{a['project']}"), 200)
        assert shown["quota"]["loadbalancer"] == 1
        # project_a already has its fixture LB and listener: both quotas are met
        resp = member_a.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET}})
        assert resp.status_code == 403, resp.text
        assert resp.json()["faultstring"] == "Quota has been met for resources: Load Balancer"
        resp = member_a.post("/v2/lbaas/listeners", json={"listener": {
            "loadbalancer_id": a["lb"], "protocol": "TCP", "protocol_port": 2000}})
        assert resp.status_code == 403, resp.text
        assert resp.json()["faultstring"] == "Quota has been met for resources: Listener"
        # project_b's quota is untouched: it still creates
        made = ok(member_b.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
            "name": "rbac-quota-b", "vip_subnet_id": PUBLIC_SUBNET}}), 201)["loadbalancer"]
        assert made["project_id"] == b["project"]
        settle(member_b, made["id"])
        ok(member_b.delete(f"/v2/lbaas/loadbalancers/{made['id']}"), 204)
    finally:
        ok(quota_admin_b.delete(f"/v2/lbaas/quotas/{a['project']}"), 202)
    assert ok(member_a.get(f"/v2/lbaas/quotas/{a['project']}"), 200)["quota"]["loadbalancer"] == -1


def test_policy_file_override_takes_effect(keystone: KeystoneCloud, override_server: Future[str]) -> None:
    """The second Ostia (OVERRIDE in its [oslo_policy] policy_file) against the default one, same tokens."""
    url = override_server.result(timeout=120)
    for role, default, overridden in (("norole", 403, 200), ("member", 200, 403)):
        headers = {"X-Auth-Token": keystone.token(rbac_user(role, "a"))}
        for server, status in ((keystone.ostia_url, default), (url, overridden)):
            resp = httpx.get(f"{server}/v2/lbaas/loadbalancers", headers=headers, timeout=30)
            assert resp.status_code == status, (role, server, resp.text)
        # every other rule keeps its default on the overridden server
        pools = httpx.get(f"{url}/v2/lbaas/pools", headers=headers, timeout=30)
        assert pools.status_code == (200 if role == "member" else 403), pools.text


def test_policy_sample_prints_octavias_defaults() -> None:
    ostia = Path(sys.executable).parent / "ostia"
    out = subprocess.run([str(ostia), "policy", "sample"], capture_output=True, text=True, timeout=60, check=True)
    # Every line is a commented-out YAML mapping entry, as oslopolicy-sample-generator writes them.
    rules = yaml.safe_load(textwrap.dedent("\n".join(line.removeprefix("#") for line in out.stdout.splitlines())))
    assert rules["load-balancer:read"] == ("rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer"
                                          " or rule:load-balancer:member_and_owner or rule:load-balancer:admin")
    assert rules["load-balancer:owner"] == "project_id:%(project_id)s"
    for route in ROUTES:  # the sample names each route's Octavia policy with the rule this module expects
        assert rules[f"os_load-balancer_api:{route.policy}"].split(" or role:service")[0] == \
            f"rule:load-balancer:{route.rule}", route
