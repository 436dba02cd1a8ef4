"""Real traffic through rendered L7 policies: every rule type and compare type, invert, AND, every action.

One HAProxy serves one HTTP listener per rule case (a REDIRECT_TO_POOL policy to pool-2, member m2; the default
pool-1 has member m1), so each case shows both a request that matches and one that does not.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ostia.domain.spec import L7PolicySpec, L7RuleSpec, ListenerSpec, MemberSpec, PoolSpec
from tests.support.dataplane import Member, client_tls_context, dataplane, request
from tests.support.pki import Pki


@dataclass(frozen=True)
class Req:
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    rules: tuple[L7RuleSpec, ...]
    match: Req
    miss: Req


def rule(type_: str, compare: str, value: str, key: str | None = None, invert: bool = False, n: int = 1) -> L7RuleSpec:
    return L7RuleSpec(id=f"rule-{n}", type=type_, compare_type=compare, value=value, key=key, invert=invert)


def host(h: str) -> Req:
    return Req(headers={"Host": h})


def hdr(v: str) -> Req:
    return Req(headers={"X-Tenant": v})


def cookie(v: str) -> Req:
    return Req(cookies={"session": v})


# (compare, value, matching, non-matching) per rule type.
_VALUES: dict[str, list[tuple[str, str, Req, Req]]] = {
    "HOST_NAME": [
        ("REGEX", r"^www\.example\.(com|org)$", host("www.example.org"), host("api.example.org")),
        ("STARTS_WITH", "www.", host("www.foo.net"), host("api.www.net")),
        ("ENDS_WITH", ".example.com", host("api.example.com"), host("example.com.evil")),
        ("CONTAINS", "example", host("my-example-host"), host("other.host")),
        # Host names compare case-insensitively.
        ("EQUAL_TO", "www.example.com", host("WWW.Example.COM"), host("www.example.com.au")),
    ],
    "PATH": [
        ("REGEX", "^/v[0-9]+/", Req("/v2/items"), Req("/vx/items")),
        ("STARTS_WITH", "/api", Req("/api/users"), Req("/web/api")),
        ("ENDS_WITH", "/edit", Req("/doc/edit"), Req("/doc/edit/x")),
        ("CONTAINS", "admin", Req("/x/admin/y"), Req("/x/adm/y")),
        ("EQUAL_TO", "/exact", Req("/exact"), Req("/exact/")),
    ],
    "FILE_TYPE": [
        ("REGEX", r"\.(png|gif)$", Req("/img/a.gif"), Req("/img/a.jpg")),
        ("EQUAL_TO", "jpg", Req("/img/a.jpg"), Req("/img/a.png")),
    ],
    "HEADER": [
        ("REGEX", "^blue-[0-9]+$", hdr("blue-42"), hdr("blue-x")),
        ("STARTS_WITH", "blue", hdr("blueish"), hdr("navy-blue")),
        ("ENDS_WITH", "blue", hdr("navy-blue"), hdr("blueish")),
        ("CONTAINS", "lu", hdr("solution"), Req()),
        # Header values compare case-sensitively.
        ("EQUAL_TO", "blue", hdr("blue"), hdr("Blue")),
    ],
    "COOKIE": [
        ("REGEX", "^abc[0-9]+$", cookie("abc123"), cookie("abc12x")),
        ("STARTS_WITH", "abc", cookie("abcdef"), cookie("xabc")),
        ("ENDS_WITH", "123", cookie("x-123"), cookie("123-x")),
        ("CONTAINS", "c12", cookie("abc123"), Req()),
        ("EQUAL_TO", "abc123", cookie("abc123"), cookie("abc1234")),
    ],
}
_KEYS = {"HEADER": "X-Tenant", "COOKIE": "session"}

CASES = [Case(f"{t}-{c}", (rule(t, c, v, _KEYS.get(t)),), m, x)
         for t, values in _VALUES.items() for c, v, m, x in values]
CASES += [
    Case("PATH-STARTS_WITH-inverted", (rule("PATH", "STARTS_WITH", "/public", invert=True),),
         Req("/private"), Req("/public/x")),
    Case("HEADER-inverted-missing-header-matches", (rule("HEADER", "EQUAL_TO", "blue", "X-Tenant", invert=True),),
         Req(), hdr("blue")),
    # Rules of one policy are ANDed.
    Case("PATH-and-HEADER", (rule("PATH", "STARTS_WITH", "/api"), rule("HEADER", "EQUAL_TO", "blue", "X-Tenant", n=2)),
         Req("/api/x", headers={"X-Tenant": "blue"}), Req("/api/x", headers={"X-Tenant": "red"})),
]


@dataclass
class L7Rig:
    urls: dict[str, str]
    actions_url: str


@pytest.fixture(scope="module")
def rig() -> Iterator[L7Rig]:
    with dataplane() as dp:
        m1, m2 = dp.member("m1"), dp.member("m2")
        listeners, urls = [], {}
        for i, case in enumerate(CASES):
            port = dp.port()
            policy = L7PolicySpec(id=f"policy-{i}", action="REDIRECT_TO_POOL", position=1, rules=case.rules,
                                  redirect_pool_id="pool-2")
            listeners.append(ListenerSpec(id=f"listener-{i}", protocol="HTTP", protocol_port=port,
                                          default_pool_id="pool-1", l7policies=(policy,)))
            urls[case.name] = f"http://{dp.vip}:{port}"
        port = dp.port()
        listeners.append(ListenerSpec(id="listener-actions", protocol="HTTP", protocol_port=port,
                                      default_pool_id="pool-1", l7policies=_action_policies()))
        dp.haproxy(listeners, _pools(m1, m2))
        yield L7Rig(urls=urls, actions_url=f"http://{dp.vip}:{port}")


def _pools(m1: Member, m2: Member) -> list[PoolSpec]:
    return [PoolSpec(id=f"pool-{n}", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                     members=(MemberSpec(id=m.name, address=m.address, protocol_port=m.port),))
            for n, m in ((1, m1), (2, m2))]


def _starts(path: str) -> tuple[L7RuleSpec, ...]:
    # Rule ids are ACL names inside one frontend and must differ (an ACL named twice ORs its patterns).
    return (L7RuleSpec(id=f"rule-{path.strip('/')}", type="PATH", compare_type="STARTS_WITH", value=path),)


def _action_policies() -> tuple[L7PolicySpec, ...]:
    return (
        L7PolicySpec(id="reject", action="REJECT", position=1, rules=(rule("PATH", "CONTAINS", "blocked", n=0),)),
        L7PolicySpec(id="to-url", action="REDIRECT_TO_URL", position=2, rules=_starts("/old"),
                     redirect_url="https://example.com/moved", redirect_http_code=301),
        L7PolicySpec(id="to-url-default", action="REDIRECT_TO_URL", position=3, rules=_starts("/gone"),
                     redirect_url="https://example.com/elsewhere"),
        L7PolicySpec(id="prefix", action="REDIRECT_PREFIX", position=4, rules=_starts("/pre"),
                     redirect_prefix="https://new.example.com", redirect_http_code=308),
        L7PolicySpec(id="to-pool", action="REDIRECT_TO_POOL", position=5, rules=_starts("/two"),
                     redirect_pool_id="pool-2"),
    )


def _send(url: str, req: Req) -> str | None:
    reply = request(url + req.path, headers=req.headers, cookies=req.cookies)
    assert reply.status == 200, (reply.status, reply.body)
    return reply.member


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule_routes_matching_requests_to_the_policy_pool(rig: L7Rig, case: Case) -> None:
    url = rig.urls[case.name]
    assert _send(url, case.match) == "m2", f"{case.match} should match"
    assert _send(url, case.miss) == "m1", f"{case.miss} should not match"


def test_reject_answers_403(rig: L7Rig) -> None:
    assert request(rig.actions_url + "/x/blocked").status == 403


def test_policies_apply_in_position_order(rig: L7Rig) -> None:
    # /old/blocked matches both REJECT (position 1) and a redirect (position 2): the first wins.
    assert request(rig.actions_url + "/old/blocked").status == 403
    # /two/blocked matches REJECT and REDIRECT_TO_POOL: REJECT still wins (use_backend runs last).
    assert request(rig.actions_url + "/two/blocked").status == 403


def test_redirect_to_url_uses_the_code_and_location(rig: L7Rig) -> None:
    reply = request(rig.actions_url + "/old/page?q=1")
    assert (reply.status, reply.headers["location"]) == (301, "https://example.com/moved")
    reply = request(rig.actions_url + "/gone")
    assert (reply.status, reply.headers["location"]) == (302, "https://example.com/elsewhere")


def test_redirect_prefix_keeps_the_path(rig: L7Rig) -> None:
    reply = request(rig.actions_url + "/pre/a/b?q=1")
    assert (reply.status, reply.headers["location"]) == (308, "https://new.example.com/pre/a/b?q=1")


def test_redirect_to_pool_and_default_pool(rig: L7Rig) -> None:
    assert request(rig.actions_url + "/two/x").member == "m2"
    assert request(rig.actions_url + "/one/x").member == "m1"


# --- TLS rules on a TERMINATED_HTTPS listener with client certificates ---------------------------------------


@dataclass
class TlsRig:
    urls: dict[str, str]
    ca: Path
    alice: Path
    bob: Path


@pytest.fixture(scope="module")
def tls_rig() -> Iterator[TlsRig]:
    server_pki, client_pki = Pki("server CA"), Pki("client CA")
    with dataplane() as dp:
        m1, m2 = dp.member("m1"), dp.member("m2")
        s = dp.settings()
        ca = Path(dp.write(s, "server-ca.pem", server_pki.ca_pem()))
        alice = Path(dp.write(s, "alice.pem", client_pki.bundle_pem("alice.example")))
        bob = Path(dp.write(s, "bob.pem", client_pki.bundle_pem("bob.example")))
        rules = {
            "has-cert": (L7RuleSpec(id="r-cert", type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="True"),),
            "verify-ok-with-cert": (
                L7RuleSpec(id="r-verify", type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="0"),
                L7RuleSpec(id="r-cert", type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="True")),
            "verify-expired": (  # X509_V_ERR_CERT_HAS_EXPIRED: never the result of an accepted handshake
                L7RuleSpec(id="r-verify", type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="10"),),
            "dn-cn-equal": (L7RuleSpec(id="r-dn", type="SSL_DN_FIELD", compare_type="EQUAL_TO", key="CN",
                                       value="alice.example"),),
            "dn-cn-regex": (L7RuleSpec(id="r-dn", type="SSL_DN_FIELD", compare_type="REGEX", key="CN",
                                       value="^al[a-z]+\\."),),
        }
        listeners, urls = [], {}
        for name, rs in rules.items():
            port = dp.port()
            tls = dp.listener_tls(s, name, [server_pki.bundle_pem("lb.example")], client_ca=client_pki.ca_pem(),
                                  client_authentication="OPTIONAL")
            policy = L7PolicySpec(id=f"p-{name}", action="REDIRECT_TO_POOL", position=1, rules=rs,
                                  redirect_pool_id="pool-2")
            listeners.append(ListenerSpec(id=name, protocol="TERMINATED_HTTPS", protocol_port=port,
                                          default_pool_id="pool-1", l7policies=(policy,), tls=tls))
            urls[name] = f"https://{dp.vip}:{port}/"
        dp.haproxy(listeners, _pools(m1, m2), settings=s)
        yield TlsRig(urls=urls, ca=ca, alice=alice, bob=bob)


def _who(rig: TlsRig, name: str, cert: Path | None) -> str | None:
    ctx: ssl.SSLContext = client_tls_context(rig.ca, cert)
    reply = request(rig.urls[name], tls=ctx)
    assert reply.status == 200
    return reply.member


def test_ssl_conn_has_cert_matches_clients_with_a_certificate(tls_rig: TlsRig) -> None:
    assert _who(tls_rig, "has-cert", tls_rig.alice) == "m2"
    assert _who(tls_rig, "has-cert", None) == "m1"


def test_ssl_verify_result_compares_the_verification_code(tls_rig: TlsRig) -> None:
    assert _who(tls_rig, "verify-ok-with-cert", tls_rig.bob) == "m2"
    assert _who(tls_rig, "verify-ok-with-cert", None) == "m1"
    assert _who(tls_rig, "verify-expired", tls_rig.bob) == "m1"


@pytest.mark.parametrize("name", ["dn-cn-equal", "dn-cn-regex"])
def test_ssl_dn_field_matches_the_client_certificate_subject(tls_rig: TlsRig, name: str) -> None:
    assert _who(tls_rig, name, tls_rig.alice) == "m2"
    assert _who(tls_rig, name, tls_rig.bob) == "m1"
    assert _who(tls_rig, name, None) == "m1"
