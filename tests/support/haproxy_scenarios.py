"""Load-balancer specs, one per feature group of internals §6.1, rendered into tests/golden/<name>.cfg.

Paths all live under BASE (the default RenderSettings); the `haproxy -c` test moves them into a temporary
directory and creates the certificate, CA, CRL and state files they name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from ostia.domain.spec import (
    HealthMonitorSpec,
    HstsSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    ListenerTlsSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    PoolTlsSpec,
    RenderSettings,
    SessionPersistenceSpec,
)

BASE = "/var/lib/ostia"
CERTS = f"{BASE}/certs/lb-1"
VIP = "203.0.113.10"
SCENARIOS: dict[str, Callable[[], LoadBalancerSpec]] = {}


def scenario(fn: Callable[[], LoadBalancerSpec]) -> Callable[[], LoadBalancerSpec]:
    SCENARIOS[fn.__name__] = fn
    return fn


def lb(*listeners: ListenerSpec, pools: tuple[PoolSpec, ...] = (), vips: tuple[str, ...] = (VIP,),
       settings: RenderSettings | None = None) -> LoadBalancerSpec:
    return LoadBalancerSpec(id="lb-1", project_id="project-1", vip_addresses=vips, listeners=listeners,
                            pools=pools, settings=settings or RenderSettings())


def members(n: int, port: int = 8080, **kw: object) -> tuple[MemberSpec, ...]:
    return tuple(MemberSpec(id=f"member-{i}", address=f"192.0.2.{10 + i}", protocol_port=port, **kw)  # type: ignore[arg-type]
                 for i in range(1, n + 1))


@scenario
def http_round_robin() -> LoadBalancerSpec:
    pool = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2))
    return lb(ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=80, default_pool_id="pool-1"),
              pools=(pool,))


@scenario
def tcp_members() -> LoadBalancerSpec:
    """LEAST_CONNECTIONS, SOURCE_IP persistence, TCP monitor; member weight, backup, disabled, monitor address."""
    ms = (MemberSpec(id="member-1", address="192.0.2.11", protocol_port=5432, weight=10),
          MemberSpec(id="member-2", address="192.0.2.12", protocol_port=5432, weight=0, monitor_address="192.0.2.99",
                     monitor_port=9000),
          MemberSpec(id="member-3", address="192.0.2.13", protocol_port=5432, backup=True),
          MemberSpec(id="member-4", address="2001:db8::14", protocol_port=5432, enabled=False, monitor_port=9001))
    hm = HealthMonitorSpec(type="TCP", delay=5, timeout=3, max_retries=2, max_retries_down=4)
    pool = PoolSpec(id="pool-1", protocol="TCP", lb_algorithm="LEAST_CONNECTIONS", members=ms, health_monitor=hm,
                    session_persistence=SessionPersistenceSpec(type="SOURCE_IP"))
    return lb(ListenerSpec(id="listener-1", protocol="TCP", protocol_port=5432, default_pool_id="pool-1",
                           connection_limit=2000), pools=(pool,))


@scenario
def https_passthrough() -> LoadBalancerSpec:
    hm = HealthMonitorSpec(type="TLS-HELLO", delay=10, timeout=5, max_retries=3)
    pool = PoolSpec(id="pool-1", protocol="HTTPS", lb_algorithm="SOURCE_IP", members=members(2, 443),
                    health_monitor=hm)
    return lb(ListenerSpec(id="listener-1", protocol="HTTPS", protocol_port=443, default_pool_id="pool-1"),
              pools=(pool,))


def _terminated(**kw: object) -> ListenerSpec:
    tls = ListenerTlsSpec(crt_list_path=f"{CERTS}/listener-1.crt-list",
                          certificates=(f"{CERTS}/default.pem", f"{CERTS}/sni-a.pem", f"{CERTS}/sni-b.pem"),
                          client_authentication="MANDATORY", client_ca_path=f"{CERTS}/client-ca.pem",
                          client_crl_path=f"{CERTS}/client-crl.pem",
                          ciphers="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
                          versions=("TLSv1.2", "TLSv1.3"), alpn_protocols=("h2", "http/1.1"))
    fields: dict[str, object] = {"id": "listener-1", "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                                 "default_pool_id": "pool-1", "tls": tls,
                                 "hsts": HstsSpec(max_age=31536000, include_subdomains=True, preload=True)}
    fields.update(kw)
    return ListenerSpec(**fields)  # type: ignore[arg-type]


@scenario
def terminated_https() -> LoadBalancerSpec:
    """SNI crt-list, mandatory client auth with CA and CRL, versions, ciphers, ALPN, HSTS, the SSL headers."""
    headers = tuple((h, "true") for h in (
        "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-SSL-Client-Verify", "X-SSL-Client-Has-Cert",
        "X-SSL-Client-DN", "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before",
        "X-SSL-Client-Not-After"))
    pool = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2))
    return lb(_terminated(insert_headers=headers), pools=(pool,))


@scenario
def terminated_https_optional_auth() -> LoadBalancerSpec:
    """OPTIONAL client auth without CRL; bad stored ciphers fall back to the defaults; TLS 1.3 only; no HSTS."""
    base = _terminated(hsts=None)
    assert base.tls is not None
    tls = replace(base.tls, certificates=(f"{CERTS}/default.pem",), client_authentication="OPTIONAL",
                  client_crl_path=None, ciphers="ALL\nbind 0.0.0.0:1", versions=("TLSv1.3",), alpn_protocols=())
    pool = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(1))
    return lb(replace(base, tls=tls), pools=(pool,))


@scenario
def cookie_persistence() -> LoadBalancerSpec:
    p1 = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2),
                  session_persistence=SessionPersistenceSpec(type="HTTP_COOKIE"))
    p2 = PoolSpec(id="pool-2", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2, 8081),
                  session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="JSESSIONID"))
    return lb(ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=80, default_pool_id="pool-1"),
              ListenerSpec(id="listener-2", protocol="HTTP", protocol_port=8080, default_pool_id="pool-2"),
              pools=(p1, p2))


@scenario
def http_monitors() -> LoadBalancerSpec:
    """HTTP monitor with every field (HTTP/1.1 + domain name, code ranges); HTTPS monitor with HTTP/1.0."""
    hm1 = HealthMonitorSpec(type="HTTP", delay=7, timeout=4, max_retries=5, max_retries_down=2, http_method="HEAD",
                            url_path="/healthz?full=1", expected_codes="200-204, 302", http_version=1.1,
                            domain_name="app.example.com")
    hm2 = HealthMonitorSpec(type="HTTPS", delay=3, timeout=2, max_retries=1, http_method="GET", url_path="/",
                            expected_codes="200", http_version=1.0)
    p1 = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2), health_monitor=hm1)
    p2 = PoolSpec(id="pool-2", protocol="HTTPS", lb_algorithm="ROUND_ROBIN", members=members(2, 443),
                  health_monitor=hm2)
    return lb(ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=80, default_pool_id="pool-1"),
              ListenerSpec(id="listener-2", protocol="HTTPS", protocol_port=443, default_pool_id="pool-2"),
              pools=(p1, p2))


@scenario
def ping_monitor() -> LoadBalancerSpec:
    hm = HealthMonitorSpec(type="PING", delay=5, timeout=2, max_retries=3, max_retries_down=3)
    pool = PoolSpec(id="pool-1", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=members(2), health_monitor=hm)
    return lb(ListenerSpec(id="listener-1", protocol="TCP", protocol_port=22, default_pool_id="pool-1"),
              pools=(pool,))


@scenario
def proxy_protocol() -> LoadBalancerSpec:
    """PROXY on a TCP listener, PROXYV2 on HTTP, PROXYV2 behind TLS termination (v2-ssl-cn)."""
    p1 = PoolSpec(id="pool-1", protocol="PROXY", lb_algorithm="ROUND_ROBIN", members=members(1))
    p2 = PoolSpec(id="pool-2", protocol="PROXYV2", lb_algorithm="ROUND_ROBIN", members=members(1, 8081))
    p3 = PoolSpec(id="pool-3", protocol="PROXYV2", lb_algorithm="ROUND_ROBIN", members=members(1, 8082))
    return lb(ListenerSpec(id="listener-1", protocol="TCP", protocol_port=25, default_pool_id="pool-1"),
              ListenerSpec(id="listener-2", protocol="HTTP", protocol_port=80, default_pool_id="pool-2"),
              replace(_terminated(hsts=None), id="listener-3", default_pool_id="pool-3"),
              pools=(p1, p2, p3))


@scenario
def pool_tls() -> LoadBalancerSpec:
    """Re-encryption: client certificate, CA + CRL with verification; and a pool with no CA (verify none)."""
    tls1 = PoolTlsSpec(client_cert_path=f"{CERTS}/pool-client.pem", ca_path=f"{CERTS}/pool-ca.pem",
                       crl_path=f"{CERTS}/pool-crl.pem", ciphers="ECDHE-RSA-AES256-GCM-SHA384",
                       versions=("TLSv1.2",), alpn_protocols=("http/1.1",))
    hm = HealthMonitorSpec(type="HTTPS", delay=5, timeout=3, max_retries=3, url_path="/health")
    p1 = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2, 443), tls=tls1,
                  health_monitor=hm)
    p2 = PoolSpec(id="pool-2", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(1, 443),
                  tls=PoolTlsSpec())
    return lb(ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=80, default_pool_id="pool-1"),
              replace(_terminated(hsts=None), id="listener-2", default_pool_id="pool-2"),
              pools=(p1, p2))


def _rules() -> Iterator[L7RuleSpec]:
    n = 0
    cases = [("HOST_NAME", None, "www.example.com"), ("PATH", None, "/api"), ("HEADER", "X-Tenant", "blue"),
             ("COOKIE", "session", "abc123"), ("SSL_DN_FIELD", "CN", "client.example.com")]
    for rule_type, key, value in cases:
        for compare in ("REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"):
            n += 1
            v = "^/v[0-9]+/" if compare == "REGEX" else value
            yield L7RuleSpec(id=f"rule-{n}", type=rule_type, compare_type=compare, key=key, value=v,
                             invert=n % 4 == 0)
    yield L7RuleSpec(id="rule-ft-eq", type="FILE_TYPE", compare_type="EQUAL_TO", value="jpg")
    yield L7RuleSpec(id="rule-ft-re", type="FILE_TYPE", compare_type="REGEX", value="\\.(png|gif)$", invert=True)
    yield L7RuleSpec(id="rule-cert", type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="True")
    yield L7RuleSpec(id="rule-verify", type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="0", invert=True)


@scenario
def l7_policies() -> LoadBalancerSpec:
    """Every rule type and compare type (some inverted) and every action, in position order."""
    rules = list(_rules())
    policies = (
        L7PolicySpec(id="policy-1", action="REJECT", position=1, rules=tuple(rules[0:5])),
        L7PolicySpec(id="policy-2", action="REDIRECT_TO_URL", position=2, rules=tuple(rules[5:10]),
                     redirect_url="https://example.com/moved?a=%20b", redirect_http_code=301),
        L7PolicySpec(id="policy-3", action="REDIRECT_PREFIX", position=3, rules=tuple(rules[10:15]),
                     redirect_prefix="https://new.example.com", redirect_http_code=308),
        L7PolicySpec(id="policy-4", action="REDIRECT_TO_POOL", position=4, rules=tuple(rules[15:20]),
                     redirect_pool_id="pool-2"),
        L7PolicySpec(id="policy-5", action="REDIRECT_TO_URL", position=5, rules=tuple(rules[20:25]),
                     redirect_url="http://example.org/"),
        L7PolicySpec(id="policy-6", action="REDIRECT_TO_POOL", position=6, rules=tuple(rules[25:]),
                     redirect_pool_id="pool-2"),
    )
    p1 = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(1))
    p2 = PoolSpec(id="pool-2", protocol="HTTP", lb_algorithm="LEAST_CONNECTIONS", members=members(1, 8081))
    return lb(replace(_terminated(hsts=None), l7policies=policies), pools=(p1, p2))


@scenario
def headers_timeouts_cidrs() -> LoadBalancerSpec:
    """insert_headers on HTTP, every timeout, allowed_cidrs, an IPv6 additional VIP, a connection limit."""
    headers = (("X-Forwarded-For", "true"), ("X-Forwarded-Port", "True"), ("X-Forwarded-Proto", "true"),
               ("X-Real-IP", "true"), ("X-Client-IP", "false"))
    pool = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(2))
    listener = ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=8080, default_pool_id="pool-1",
                            connection_limit=1500, insert_headers=headers,
                            allowed_cidrs=("10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"),
                            timeout_client_data=61000, timeout_member_connect=4000, timeout_member_data=62000,
                            timeout_tcp_inspect=1000)
    return lb(listener, pools=(pool,), vips=(VIP, "2001:db8::10"))


@scenario
def prometheus_and_limits() -> LoadBalancerSpec:
    """A PROMETHEUS listener; a UDP listener (skipped: not HAProxy's); a limit above the machine cap."""
    pool = PoolSpec(id="pool-1", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=members(1))
    udp_pool = PoolSpec(id="pool-udp", protocol="UDP", lb_algorithm="ROUND_ROBIN", members=members(1, 53))
    return lb(ListenerSpec(id="listener-metrics", protocol="PROMETHEUS", protocol_port=9100),
              ListenerSpec(id="listener-udp", protocol="UDP", protocol_port=53, default_pool_id="pool-udp"),
              ListenerSpec(id="listener-tcp", protocol="TCP", protocol_port=3306, default_pool_id="pool-1",
                           connection_limit=100000),
              pools=(pool, udp_pool), settings=RenderSettings(log_target=None, max_connections=8000))


@scenario
def hostile_values() -> LoadBalancerSpec:
    """Values written to inject directives: quoted into one word, or (line breaks) the policy left out."""
    rules_ok = (L7RuleSpec(id="rule-1", type="PATH", compare_type="EQUAL_TO", value="/a b#c'd\"$HOME%[src]"),
                L7RuleSpec(id="rule-2", type="HEADER", compare_type="CONTAINS", key="X-A", value="-i"))
    rules_bad = (L7RuleSpec(id="rule-3", type="PATH", compare_type="EQUAL_TO", value="/x\n    bind 0.0.0.0:1"),)
    rules_badkey = (L7RuleSpec(id="rule-4", type="HEADER", compare_type="EQUAL_TO", key="X) 1 || true(", value="v"),)
    policies = (
        L7PolicySpec(id="policy-1", action="REDIRECT_TO_URL", position=1, rules=rules_ok,
                     redirect_url="https://example.com/%[src]'#$HOME"),
        L7PolicySpec(id="policy-2", action="REJECT", position=2, rules=rules_bad),
        L7PolicySpec(id="policy-3", action="REJECT", position=3, rules=rules_badkey),
        L7PolicySpec(id="policy-4", action="REDIRECT_PREFIX", position=4, rules=rules_ok,
                     redirect_prefix="javascript:alert(1)"),
    )
    hm = HealthMonitorSpec(type="HTTP", delay=5, timeout=3, max_retries=3, url_path="/h c'k",
                           http_version=1.1, domain_name="a.example.com\n    bind :1")
    pool = PoolSpec(id="pool-1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", health_monitor=hm,
                    members=(MemberSpec(id="member-1", address="192.0.2.11", protocol_port=80),
                             MemberSpec(id="member-2", address="example.com 1.2.3.4", protocol_port=80),
                             MemberSpec(id="member 3", address="192.0.2.13", protocol_port=80)),
                    session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="a(b)"))
    listener = ListenerSpec(id="listener-1", protocol="HTTP", protocol_port=80, default_pool_id="pool-1",
                            l7policies=policies, allowed_cidrs=("10.0.0.0/8 0.0.0.0/0", "10.1.0.0/16"))
    return LoadBalancerSpec(id="lb-1", project_id="p1'\nglobal", vip_addresses=(VIP,), listeners=(listener,),
                            pools=(pool,))
