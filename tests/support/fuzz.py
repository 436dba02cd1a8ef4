"""Fuzzing the API from its OpenAPI document: no request, however malformed, may produce a 5xx (§1.5).

Bodies come from schemathesis (positive and negative generation per operation); path parameters, query
strings and a list of hand-written nasty inputs come from here, because the OpenAPI document types every path
parameter as a plain string and declares none of the list query parameters (filters, sort, paging, fields).
Real ids of a seeded object tree are mixed into paths and bodies so generated requests also get past the 404s
and reach the semantic checks, the locks and the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core import NotSet

from ostia.db.models import Base
from tests.support import tls_secrets
from tests.support.controller import Api

PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"
MISSING = "00000000-0000-0000-0000-000000000000"
# 501 is a legitimate answer (§1.5: a provider does not support an option, e.g. amphora + SOURCE_IP_PORT).
ALLOWED_5XX_PREFIX = {501: "Provider '"}

NASTY_STRINGS: tuple[str, ...] = (
    "", " ", "\x00", "a\x00b", "\t\r\n", "x" * 37, "x" * 256, "x" * 5000, "é" * 256, "\U0001f4a5" * 100,
    "\u202e\u0000\ufeff", "..", "../..", "%00", "%", "%2F", "null", "None", "true", "-1", "0", "1e400", "-1e400",
    "NaN", "Infinity", "2147483648", "-2147483649", "9223372036854775808", "9" * 40, "1.5", "0x10",
    "' OR 1=1 --", "\"; DROP TABLE load_balancer; --", "*", "%s%s%s", "{}", "[]", "\\", "/", "\u00ff\u0100",
    MISSING, MISSING.upper(), MISSING.replace("-", ""), "{" + MISSING + "}", MISSING + "0",
    "ROUND_ROBIN", "HTTP", "ACTIVE", "id:desc", "name:sideways", ":", ",,,", "a,b,c",
)
NASTY_NUMBERS: tuple[Any, ...] = (0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**40, 2**63, 2**64, 2**70, -(2**70),
                                  1.5, -0.0, 1e308, float("inf"), float("-inf"), float("nan"), True, False)

# Query keys the list routes understand, plus some they must refuse; values come from NASTY_STRINGS et al.
QUERY_KEYS: tuple[str, ...] = (
    "fields", "sort", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "tags", "tags-any", "not-tags",
    "not-tags-any", "project_id", "tenant_id", "id", "name", "description", "admin_state_up", "enabled",
    "provisioning_status", "operating_status", "protocol", "protocol_port", "connection_limit", "weight",
    "backup", "address", "monitor_port", "delay", "timeout", "max_retries", "http_version", "position",
    "redirect_http_code", "timeout_client_data", "hsts_max_age", "created_at", "updated_at", "loadbalancer_id",
    "load_balancer_id", "listener_id", "pool_id", "l7policy_id", "vip_address", "cidr", "ip_version",
    "load_balancer", "member", "cascade", "additive_only", "provider_name", "flavor_data", "_sa_instance_state",
    "__class__", "tag_rows", "colour",
)
# ...and every stored column of every table: routes accept any data-model attribute as a filter.
QUERY_KEYS += tuple(sorted({c.key for table in Base.metadata.sorted_tables for c in table.columns} - set(QUERY_KEYS)))
NASTY_QUERY_VALUES: tuple[str, ...] = ("\x00", "", "x" * 5000, "\u00e9", "2147483648", "-9" * 20, "1e400", "nan",
                                       "-inf", MISSING, "name:desc,id:up")
SORT_VALUES: tuple[str, ...] = ("name", "name:desc", "id:asc", "created_at:desc", "protocol_port:desc",
                                "admin_state_up,name", "weight:ASC", "position", "http_version:desc")


@dataclasses.dataclass
class Failure:
    method: str
    url: str
    params: list[tuple[str, str]]
    body: bytes | None
    status: int
    text: str

    def __str__(self) -> str:
        body = self.body[:300] if self.body is not None else None
        return f"{self.method} {self.url} params={self.params!r} body={body!r} -> {self.status} {self.text[:300]}"


def seed(api: Api) -> dict[str, str]:
    """A full object tree on one ACTIVE load balancer; returns path parameter name → a real value."""
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = api.post(path, body)
        assert resp.status_code == 201, resp.text
        return dict(next(iter(resp.json().values())))

    fp = post("/v2/lbaas/flavorprofiles", {"flavorprofile": {"name": "fp", "provider_name": "amphora",
                                                             "flavor_data": "{}"}})
    flavor = post("/v2/lbaas/flavors", {"flavor": {"name": "fl", "flavor_profile_id": fp["id"]}})
    azp = post("/v2/lbaas/availabilityzoneprofiles", {"availability_zone_profile": {
        "name": "azp", "provider_name": "amphora", "availability_zone_data": "{}"}})
    az = post("/v2/lbaas/availabilityzones", {"availability_zone": {
        "name": "az1", "availability_zone_profile_id": azp["id"]}})
    lb = api.create_lb(name="lb", tags=["t1"])
    listener = post("/v2/lbaas/listeners", {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                                         "protocol_port": 80}})
    api.wait_lb(lb["id"])
    pool = post("/v2/lbaas/pools", {"pool": {"listener_id": listener["id"], "protocol": "HTTP",
                                             "lb_algorithm": "ROUND_ROBIN"}})
    api.wait_lb(lb["id"])
    member = post(f"/v2/lbaas/pools/{pool['id']}/members", {"member": {"address": "10.0.0.5",
                                                                      "protocol_port": 8080}})
    api.wait_lb(lb["id"])
    hm = post("/v2/lbaas/healthmonitors", {"healthmonitor": {"pool_id": pool["id"], "type": "HTTP", "delay": 5,
                                                             "timeout": 3, "max_retries": 2}})
    api.wait_lb(lb["id"])
    policy = post("/v2/lbaas/l7policies", {"l7policy": {"listener_id": listener["id"], "action": "REJECT"}})
    api.wait_lb(lb["id"])
    rule = post(f"/v2/lbaas/l7policies/{policy['id']}/rules", {"rule": {"type": "PATH", "compare_type": "EQUAL_TO",
                                                                         "value": "/x"}})
    api.wait_lb(lb["id"])
    amphorae = api.get("/v2/octavia/amphorae").json()["amphorae"]
    subnet = api.get(f"/v2.0/subnets/{PUBLIC_SUBNET}").json()["subnet"]
    ports = api.get("/v2.0/ports").json()["ports"]
    return {
        "lb_id": lb["id"], "listener_id": listener["id"], "pool_id": pool["id"], "member_id": member["id"],
        "hm_id": hm["id"], "policy_id": policy["id"], "rule_id": rule["id"], "flavor_id": flavor["id"],
        "flavor_profile_id": fp["id"], "availability_zone_profile_id": azp["id"], "name": az["name"],
        "amphora_id": amphorae[0]["id"] if amphorae else MISSING, "subnet_id": PUBLIC_SUBNET,
        "net_id": subnet["network_id"], "port_id": ports[0]["id"] if ports else MISSING,
        "project_id": "p1", "project": "p1", "provider": "amphora",
        # A real certificate ref, so TERMINATED_HTTPS listeners in generated bodies can be created.
        "tls_ref": tls_secrets.store_refs(api.client.app.state.services, "p1").cert,  # type: ignore[attr-defined]
    }


def real_value(ids: dict[str, str], path: str, param: str) -> str:
    """The seeded value for a path parameter (profile_id means a flavor or AZ profile, by path)."""
    if param == "profile_id":
        return ids["availability_zone_profile_id" if "availabilityzone" in path else "flavor_profile_id"]
    return ids.get(param, MISSING)


# Body keys that name another object → the seeded id to put there (so generated bodies reach real parents).
BODY_REFS = {"loadbalancer_id": "lb_id", "listener_id": "listener_id", "pool_id": "pool_id",
             "default_pool_id": "pool_id", "redirect_pool_id": "pool_id", "flavor_id": "flavor_id",
             "flavor_profile_id": "flavor_profile_id", "availability_zone_profile_id": "availability_zone_profile_id",
             "vip_subnet_id": "subnet_id", "subnet_id": "subnet_id", "vip_network_id": "net_id",
             "vip_port_id": "port_id", "availability_zone": "name", "default_tls_container_ref": "tls_ref",
             "tls_container_ref": "tls_ref"}


def with_real_refs(body: Any, ids: dict[str, str], keep: Any) -> Any:
    """Replace references in a (generated) body by seeded ids; `keep(key)` draws whether to leave one alone."""
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            if key in BODY_REFS and isinstance(value, str) and not keep(key):
                out[key] = ids[BODY_REFS[key]]
            else:
                out[key] = with_real_refs(value, ids, keep)
        return out
    if isinstance(body, list):
        return [with_real_refs(v, ids, keep) for v in body]
    return body


def odd_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=40),
                     st.integers(min_value=-(2**80), max_value=2**80).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


def query_strategy(ids: dict[str, str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    value = st.one_of(odd_text(), st.sampled_from(SORT_VALUES), st.sampled_from(sorted(set(ids.values()))),
                      st.sampled_from(QUERY_KEYS))
    pair = st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=12)), value)
    return st.lists(pair, max_size=5)


def nasty_bodies(root: str | None) -> Iterator[bytes]:
    """Hand-written bodies the generators rarely produce: parser limits, big numbers, wrong shapes."""
    yield b""
    yield b"null"
    yield b"[" * 1000 + b"]" * 1000
    yield b"[" * 50000 + b"]" * 50000
    yield b'{"a":' * 5000 + b"1" + b"}" * 5000
    yield b"{" * 30000
    yield b'"\xff\xfe"'
    yield b"\xef\xbb\xbf{}"
    yield b"1e400"
    yield json.dumps("x" * 1000).encode()
    yield b'{"' + b"k" * 100 + b'": 1}'
    if root is None:
        return
    for inner in (None, [], {}, "", 0, 1e400, [{}], {"": None}, {"\x00": 1}):
        yield json.dumps({root: inner}).encode()
    yield _raw(root, "[" * 1000 + "]" * 1000)
    yield _raw(root, '{"name": 1e400}')
    yield f'{{"{root}": {{"name": 1}}, "{root}": {{}}}}'.encode()  # duplicate key (json keeps the last one)
    fields = ("name", "description", "admin_state_up", "protocol_port", "connection_limit", "weight", "delay",
              "timeout", "max_retries", "position", "redirect_http_code", "http_version", "hsts_max_age",
              "timeout_client_data", "monitor_port", "loadbalancer", "member", "l7rule", "tags", "vip_sg_ids",
              "listeners", "pools", "members", "rules", "session_persistence", "insert_headers", "allowed_cidrs",
              "tls_versions", "alpn_protocols", "enabled", "flavor_data", "availability_zone_data", "value", "key",
              "type", "compare_type", "action", "address", "vip_address", "project_id")
    values: tuple[Any, ...] = (*NASTY_NUMBERS, "\x00", "x" * 300, "", [], {}, [[]], {"a": []}, ["\x00"],
                               [2**70], {"X-Forwarded-For": 2**70}, [{"id": 1}])
    for field in fields:
        for value in values:
            try:
                raw = json.dumps({root: {field: value}})
            except ValueError:
                continue
            yield raw.encode()
        for literal in ("1e400", "-1e400", "9" * 5000, "NaN", "-Infinity"):
            yield _raw(root, f'{{"{field}": {literal}}}')


def _json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, odd numbers and strings included, nested a little."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.sampled_from(NASTY_NUMBERS), st.text(max_size=8), st.sampled_from(NASTY_STRINGS))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with a random subset of the known keys; each value usually plausible, sometimes anything."""
    odd = _json_values()
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, v, v, odd) for k, v in fields.items()})


def _of(enum: Any, *extra: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from([*(str(e) for e in enum), *extra])


def graph_bodies(ids: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Single-call create bodies (§2.12): the OpenAPI document types the nested objects as free-form dicts, so
    schemathesis cannot shape them; these are shaped like the real thing with odd values mixed in."""
    from ostia.domain import enums

    ports = st.sampled_from([80, 443, 1, 65535, 0, 65536, "80"])
    ints = st.sampled_from([0, 1, 3, 10, 11, -1, 2**31 - 1, 2**31, 2**40, "5"])
    names = st.sampled_from(["a", "b", "", "A"])
    member = _shaped({"address": st.sampled_from(["10.0.0.1", "10.0.0.2", "::1", "169.254.169.254", "x"]),
                      "protocol_port": ports, "weight": ints, "backup": st.booleans(), "monitor_port": ports,
                      "monitor_address": st.sampled_from(["10.0.0.9", "fe80::1"]), "subnet_id": st.just(PUBLIC_SUBNET),
                      "name": names, "tags": st.lists(names, max_size=2), "request_sriov": st.booleans()})
    monitor = _shaped({"type": _of(enums.HealthMonitorType), "delay": ints, "timeout": ints, "max_retries": ints,
                       "max_retries_down": ints, "http_method": _of(enums.HttpMethod), "http_version": st.sampled_from(
                           [1.0, 1.1, "1.1", 2]), "url_path": st.sampled_from(["/", "/x y", "http://h/"]),
                       "expected_codes": st.sampled_from(["200", "200-204", "200,202", "abc"]),
                       "domain_name": st.sampled_from(["example.com", "-bad-"])})
    persistence = _shaped({"type": _of(enums.SessionPersistenceType), "cookie_name": names,
                           "persistence_timeout": ints, "persistence_granularity": st.just("255.255.255.0")})
    pool = _shaped({"name": names, "protocol": _of(enums.PoolProtocol), "lb_algorithm": _of(enums.LbAlgorithm),
                    "members": st.lists(member, max_size=3), "healthmonitor": monitor,
                    "session_persistence": persistence, "tls_enabled": st.booleans(),
                    "tls_versions": st.lists(st.sampled_from(["TLSv1.2", "TLSv1.3", "SSLv3"]), max_size=2),
                    "alpn_protocols": st.lists(st.sampled_from(["h2", "http/1.1", "spdy"]), max_size=2)})
    reference = st.one_of(pool, names.map(lambda n: {"name": n}))
    rule = _shaped({"type": _of(enums.L7RuleType), "compare_type": _of(enums.L7RuleCompareType),
                    "value": st.sampled_from(["/x", "a b", "", "\n"]), "key": names, "invert": st.booleans()})
    policy = _shaped({"action": _of(enums.L7PolicyAction), "redirect_pool": reference,
                      "redirect_url": st.sampled_from(["http://a/", "ftp://a/", "x"]), "redirect_prefix": st.just(
                          "https://b"), "redirect_http_code": st.sampled_from([301, 302, 999]), "position": ints,
                      "rules": st.lists(rule, max_size=3), "name": names})
    listener = _shaped({"protocol": _of(enums.ListenerProtocol), "protocol_port": ports, "default_pool": reference,
                        "l7policies": st.lists(policy, max_size=2), "connection_limit": ints,
                        "insert_headers": st.dictionaries(st.sampled_from(["X-Forwarded-For", "X-Forwarded-Port",
                                                                           "X-Bogus"]), st.sampled_from(
                            ["true", "false", "x"]), max_size=2),
                        "allowed_cidrs": st.lists(st.sampled_from(["10.0.0.0/8", "::/0", "1.2.3.4/33"]), max_size=2),
                        "timeout_client_data": ints, "timeout_tcp_inspect": ints, "hsts_max_age": ints,
                        "client_authentication": _of(enums.ClientAuthentication), "name": names,
                        "default_tls_container_ref": st.sampled_from([ids["tls_ref"], "x"]),
                        "tls_versions": st.lists(st.just("TLSv1.2"))})
    load_balancer = _shaped({"listeners": st.lists(listener, max_size=3), "pools": st.lists(pool, max_size=3),
                             "availability_zone": st.sampled_from(["", ids["name"], "nowhere"]),
                             "flavor_id": st.just(ids["flavor_id"]), "provider": st.sampled_from(
                                 ["amphora", "octavia", "noop_driver", ""]), "name": names,
                             "vip_address": st.sampled_from(["127.1.0.50", "10.9.9.9", "::1"]),
                             "tags": st.lists(names, max_size=3)})
    return load_balancer.map(lambda lb: {"loadbalancer": {"vip_subnet_id": PUBLIC_SUBNET, **lb}})


def conformance_problem(operation: Any, resp: Any) -> str | None:
    """What in an answer breaks the operation's OpenAPI document (schemathesis's status code, content type and
    response schema conformance), or None."""
    from schemathesis.core.failures import FailureGroup
    from schemathesis.core.transport import Response

    answer = Response.from_any(resp)
    if operation.responses.find_by_status_code(answer.status_code) is None:
        return f"status {answer.status_code} is not documented ({', '.join(operation.responses.status_codes)})"
    documented = operation.schema.get_content_types(operation, answer)
    received = (answer.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if documented and received not in documented:
        return f"content type {received!r} is not documented ({', '.join(documented)})"
    try:
        operation.validate_response(answer)
    except (AssertionError, FailureGroup) as exc:
        return "body breaks the response schema: " + " ".join(str(exc).split())[:300]
    return None


def reaches_template(path_params: dict[str, str]) -> bool:
    """Whether a request still targets its operation: an empty, `.`/`..` or slashed path parameter routes the
    request to another path (or to none), where the operation's documented answers do not apply."""
    return all(v and "/" not in v and v not in (".", "..") for v in path_params.values())


class Fuzzer:
    """Sends requests through a TestClient; records every 5xx that is not an allowed provider answer, and every
    answer that breaks the OpenAPI document."""

    def __init__(self, api: Api, ids: dict[str, str], deadline: float | None = None) -> None:
        self.client = api.client
        self.headers = dict(api.headers)
        self.ids = ids
        self.deadline = deadline
        self.failures: list[Failure] = []
        self.nonconforming: list[Failure] = []
        self.operations: dict[tuple[str, str], Any] = {}  # (method, path template) → schemathesis operation
        self.count = 0
        self.check_seconds = 0.0  # CPU spent on the conformance checks
        self.statuses: dict[int, int] = {}

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def send(self, method: str, template: str, path_params: dict[str, str], params: list[tuple[str, str]],
             body: bytes | None) -> int:
        path = template
        for name, value in path_params.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = self.client.request(method, path, params=params, content=body, headers=headers)
            status, text = resp.status_code, resp.text
        except Exception as exc:  # raise_server_exceptions: the app's own exception surfaces here
            status, text = 599, f"{type(exc).__name__}: {exc}"
        self.count += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500 and not (status in ALLOWED_5XX_PREFIX and _faultstring(text).startswith(
                ALLOWED_5XX_PREFIX[status])):
            self.failures.append(Failure(method, path, params, body, status, text))
        operation = self.operations.get((method, template))
        if status != 599 and operation is not None and reaches_template(path_params):
            checking = time.process_time()
            problem = conformance_problem(operation, resp)
            self.check_seconds += time.process_time() - checking
            if problem:
                self.nonconforming.append(Failure(method, path, params, body, status, f"{problem}: {text}"))
        return status

    def run_operation(self, operation: Any, mode: Any, examples: int, seed: int) -> None:
        """`examples` schemathesis cases of one operation with odd or real path parameters and odd queries."""
        method, template = operation.method.upper(), operation.path
        names = [p.name for p in operation.path_parameters]

        @hypothesis_seed(seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def one(case: Any, data: st.DataObject) -> None:
            # Past the deadline every example still draws what it would have (Hypothesis refuses a strategy
            # whose draws depend on outside state, e.g. the clock) and only skips the request.
            path_params = {}
            for name in names:
                choice = data.draw(st.sampled_from(("real", "real", "odd", "generated")))
                generated = (case.path_parameters or {}).get(name)
                if choice == "real" or (choice == "generated" and not isinstance(generated, str)):
                    path_params[name] = real_value(self.ids, template, name)
                elif choice == "odd":
                    path_params[name] = data.draw(odd_text())
                else:
                    path_params[name] = str(generated)
            params = data.draw(query_strategy(self.ids)) if method == "GET" or data.draw(st.booleans()) else []
            body: bytes | None = None
            if isinstance(case.body, bytes | str):  # negative generation: not even JSON
                body = case.body.encode() if isinstance(case.body, str) else case.body
            elif not isinstance(case.body, NotSet):
                keep = lambda _key: data.draw(st.booleans())  # noqa: E731
                body = json.dumps(with_real_refs(case.body, self.ids, keep)).encode()
            if not self.expired():
                self.send(method, template, path_params, params, body)

        with contextlib.suppress(Unsatisfiable):  # negative mode of an operation without parameters or body
            one()

    def run_graph(self, examples: int, seed: int) -> None:
        """Single-call creates with structured nested objects."""
        if not examples:
            return

        @hypothesis_seed(seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(body=graph_bodies(self.ids))
        def one(body: dict[str, Any]) -> None:
            if not self.expired():
                self.send("POST", "/v2/lbaas/loadbalancers", {}, [], json.dumps(body).encode())

        one()

    def run_nasty(self, operation: Any, bodies: int | None, paths: int | None) -> None:
        """Hand-written inputs: `bodies` of the nasty bodies (the structural ones first, then an even sample of
        the per-field ones) with real path parameters, and `paths` odd strings in each path parameter."""
        method, template = operation.method.upper(), operation.path
        names = [p.name for p in operation.path_parameters]
        real = {n: real_value(self.ids, template, n) for n in names}
        if operation.body:
            for body in _sample(list(nasty_bodies(_root(operation))), bodies, head=STRUCTURAL_BODIES):
                if self.expired():
                    return
                self.send(method, template, real, [], body)
        for name in names:
            for odd in _sample(list(NASTY_STRINGS), paths, head=8):
                if self.expired():
                    return
                self.send(method, template, {**real, name: odd}, [], b"{}" if operation.body else None)

    def run_nasty_queries(self, operation: Any, pairs: int | None, offset: int = 0) -> None:
        """Known query keys, one at a time, each with an odd value (rotating through NASTY_QUERY_VALUES)."""
        method, template = operation.method.upper(), operation.path
        real = {p.name: real_value(self.ids, template, p.name) for p in operation.path_parameters}
        values = NASTY_QUERY_VALUES
        every = [(key, values[(i + offset) % len(values)]) for i, key in enumerate(QUERY_KEYS)]
        for key, value in _sample(every[offset % len(every):] + every[:offset % len(every)], pairs):
            if self.expired():
                return
            self.send(method, template, real, [(key, value)], None)

    def run_paging(self, operation: Any) -> None:
        """Keyset pages sorted by every field of the collection's first item: `<key> > marker value` for each
        column type (booleans, timestamps, nullable text...), both directions, forward and reverse."""
        template = operation.path
        real = {p.name: real_value(self.ids, template, p.name) for p in operation.path_parameters}
        path = template
        for name, value in real.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        resp = self.client.get(path, headers=self.headers)
        body = resp.json() if resp.status_code == 200 else None
        items = next(iter(body.values()), None) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return
        first = items[0]
        marker = str(first.get("id") or first.get("name") or first.get("project_id"))
        for i, key in enumerate(sorted(first)):
            if self.expired():
                return
            params = [("sort", f"{key}:{('asc', 'desc')[i % 2]}"), ("limit", "1"), ("marker", marker)]
            if i % 4 >= 2:
                params.append(("page_reverse", "true"))
            self.send("GET", template, real, params, None)

    def run_all(self, operations: list[Any], budget: Budget) -> None:
        """Everything, deletes last (so the seeded tree serves the other operations first)."""
        from schemathesis import GenerationMode

        self.operations.update({(op.method.upper(), op.path): op for op in operations})
        ordered = sorted(operations, key=lambda op: op.method.upper() == "DELETE")
        for index, op in enumerate(ordered):
            # Negative generation only where there is a body to break: the path parameters are plain strings,
            # which schemathesis can hardly violate (and it spends seconds trying); odd paths come from here.
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if op.body else (GenerationMode.POSITIVE,)
            for mode in modes if budget.examples else ():
                self.run_operation(op, mode, budget.examples, budget.seed)
            if op.method.upper() == "DELETE":
                continue
            self.run_nasty(op, budget.nasty_bodies, budget.odd_paths)
            if op.method.upper() == "GET" and not op.path.endswith("}"):
                self.run_nasty_queries(op, budget.query_pairs, offset=index)
                self.run_paging(op)
            if op.method.upper() == "POST" and op.path == "/v2/lbaas/loadbalancers":
                self.run_graph(budget.graph_examples, budget.seed)


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much of each kind of input one run sends (None: all of the hand-written lists)."""

    examples: int = 3  # schemathesis cases per operation and generation mode
    nasty_bodies: int | None = 40  # per operation with a body
    odd_paths: int | None = 12  # per path parameter
    query_pairs: int | None = 40  # per list operation
    graph_examples: int = 150
    seed: int = 0  # the same cases every run for a given seed


STRUCTURAL_BODIES = 23  # the first bodies nasty_bodies() yields: parser limits and wrong shapes


def _sample(items: list[Any], count: int | None, head: int = 0) -> list[Any]:
    """The first `head` items, then an even spread over the rest, `count` in all."""
    if count is None or len(items) <= count:
        return items
    first, rest = items[:head], items[head:]
    room = max(count - len(first), 0)
    step = max(len(rest) // room, 1) if room else len(rest) + 1
    return first[:count] + rest[::step][:room]


def _raw(root: str, inner: str) -> bytes:
    return f'{{"{root}": {inner}}}'.encode()


def _root(operation: Any) -> str | None:
    """The wire root key of an operation's body (`{"listener": {...}}` → "listener")."""
    try:
        schema = operation.definition.raw["requestBody"]["content"]["application/json"]["schema"]
        ref = schema.get("$ref", "")
        components = operation.schema.raw_schema["components"]["schemas"]
        target = components[ref.rsplit("/", 1)[-1]]
        return str(next(iter(target.get("properties", {}))))
    except (KeyError, StopIteration, AttributeError, TypeError):
        return None


def _faultstring(text: str) -> str:
    try:
        return str(json.loads(text).get("faultstring", ""))
    except (ValueError, AttributeError):
        return ""
