"""One `backend <pool_id>:<listener_id>` section: balance, persistence, health check, headers and servers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ostia.domain.enums import HealthMonitorType, LbAlgorithm, ListenerProtocol, PoolProtocol
from ostia.domain.enums import SessionPersistenceType as SP
from ostia.domain.peers import PEER_PORT, peers_section
from ostia.domain.spec import HealthMonitorSpec, ListenerSpec, LoadBalancerSpec, MemberSpec, PeerSpec, PoolSpec
from ostia.render.l7 import backend_name
from ostia.render.quoting import Unsafe, address, fetch_arg, name, quote
from ostia.render.tls import server_tls_options

HM = HealthMonitorType
BALANCE: dict[str, str] = {LbAlgorithm.ROUND_ROBIN: "roundrobin", LbAlgorithm.LEAST_CONNECTIONS: "leastconn",
           LbAlgorithm.SOURCE_IP: "source"}
_POOL_MODES: dict[str, str] = {PoolProtocol.HTTP: "http", PoolProtocol.HTTPS: "tcp", PoolProtocol.TCP: "tcp"}
_SSL_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}
# Client-address headers Ostia's API accepts besides Octavia's three.
_SOURCE_HEADERS = ("X-Forwarded-IP", "X-Client-IP", "X-Real-IP")


@dataclass
class BackendView:
    pool_id: str
    name: str
    mode: str
    balance: str
    fullconn: int
    timeout_connect: int
    timeout_server: int
    http_reuse: bool = False
    persistence: str | None = None  # SOURCE_IP | APP_COOKIE | HTTP_COOKIE
    cookie_name: str | None = None
    stick_size: str = "10k"
    peers: str | None = None  # the peers section its stick table is synchronised through (ACTIVE_STANDBY)
    health_type: str | None = None
    check_timeout: int = 0
    httpchk: str | None = None  # "<method> <path>[ HTTP/x]"
    check_host: str | None = None
    expect_status: str | None = None
    ping_wrapper: str | None = None
    server_state: bool = False
    forwardfor: bool = False
    set_headers: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)


def expand_codes(expected: str | None) -> str:
    """"200-204, 302" → "200|201|202|203|204|302" (the regex `http-check expect rstatus` takes)."""
    codes: list[str] = []
    for part in (expected or "200").replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            codes += [str(c) for c in range(int(lo), int(hi or lo) + 1)]
    return "|".join(dict.fromkeys(codes)) or "200"


def _mode(pool: PoolSpec, frontend_mode: str) -> str:
    # PROXY pools speak the listener's protocol; an HTTP frontend can only hand over to an HTTP backend.
    if frontend_mode == "http":
        return "http"
    return _POOL_MODES.get(pool.protocol, frontend_mode)


def _health(view: BackendView, hm: HealthMonitorSpec, spec: LoadBalancerSpec) -> None:
    view.health_type = hm.type
    view.check_timeout = int(hm.timeout)
    view.server_state = spec.settings.server_state_file
    if hm.type in (HM.HTTP, HM.HTTPS):  # HTTP checks work on tcp-mode backends too
        version = f" HTTP/{hm.http_version:.1f}" if hm.http_version else ""
        try:
            view.httpchk = f"{quote(hm.http_method or 'GET')} {quote(hm.url_path or '/')}{version}"
        except Unsafe:
            view.httpchk = "GET /" + version
        if hm.domain_name and hm.http_version and hm.http_version >= 1.1:
            try:
                view.check_host = quote(hm.domain_name)
            except Unsafe:
                view.check_host = None
        view.expect_status = expand_codes(hm.expected_codes)
    elif hm.type == HM.PING:
        view.ping_wrapper = quote(spec.settings.ping_wrapper)


def _server(m: MemberSpec, view: BackendView, pool: PoolSpec, listener: ListenerSpec,
            hm: HealthMonitorSpec | None) -> str:
    parts = ["server", name(m.id), f"{_hostport(m.address, m.protocol_port)}", "weight", str(int(m.weight))]
    if hm is not None and hm.type in (HM.HTTP, HM.HTTPS, HM.TCP, HM.TLS_HELLO, HM.PING):
        parts.append("check")
        if hm.type in (HM.HTTPS, HM.TLS_HELLO) and pool.tls is None:
            # TLS-HELLO: a completed handshake is the check (ssl-hello-chk is SSLv3 based and gone).
            parts += ["check-ssl", "verify", "none"]
        parts += ["inter", f"{int(hm.delay)}s", "fall", str(int(hm.max_retries_down)),
                  "rise", str(int(hm.max_retries))]
        if m.monitor_address:
            parts += ["addr", address(m.monitor_address)]
        if m.monitor_port:
            parts += ["port", str(int(m.monitor_port))]
    if view.persistence == SP.HTTP_COOKIE:
        parts += ["cookie", name(m.id)]
    terminated = listener.protocol == ListenerProtocol.TERMINATED_HTTPS
    if pool.protocol == PoolProtocol.PROXY:
        parts.append("send-proxy")
    elif pool.protocol == PoolProtocol.PROXYV2:
        parts.append("send-proxy-v2-ssl-cn" if terminated else "send-proxy-v2")
    if m.backup:
        parts.append("backup")
    if not m.enabled:
        parts.append("disabled")
    line = " ".join(parts)
    if pool.tls is not None:
        line += server_tls_options(pool.tls, terminated)
    return line


def _hostport(addr: str, port: int) -> str:
    return f"{address(addr)}:{int(port)}"


def _headers(view: BackendView, pool: PoolSpec, listener: ListenerSpec) -> None:
    enabled = {h for h, v in listener.insert_headers if str(v).lower() == "true"}
    if view.mode != "http":
        return
    # Octavia writes these two for HTTP pools only: a PROXY/PROXYV2 pool's members learn the client from the
    # PROXY header and get no X-Forwarded-For/-Port (the other headers follow the listener alone).
    http_pool = pool.protocol == PoolProtocol.HTTP
    view.forwardfor = http_pool and "X-Forwarded-For" in enabled
    if http_pool and "X-Forwarded-Port" in enabled:
        view.set_headers.append("X-Forwarded-Port %[dst_port]")
    if "X-Forwarded-Proto" in enabled:
        scheme = "https" if listener.protocol == ListenerProtocol.TERMINATED_HTTPS else "http"
        view.set_headers.append(f"X-Forwarded-Proto {scheme}")
    view.set_headers += [f"{h} %[src]" for h in _SOURCE_HEADERS if h in enabled]
    if listener.protocol == ListenerProtocol.TERMINATED_HTTPS:
        view.set_headers += [f"{h} {v}" for h, v in _SSL_HEADERS.items() if h in enabled]


def _peer_line(peer: PeerSpec) -> str | None:
    try:
        return f"{name(peer.name)} {_hostport(peer.address, PEER_PORT)}"
    except Unsafe:
        return None


def peer_lines(spec: LoadBalancerSpec) -> list[str]:
    """`<peer name> <vrrp address>:1025` for each peer that can be written safely."""
    return [line for line in map(_peer_line, spec.peers) if line]


def peers_of(spec: LoadBalancerSpec) -> str | None:
    """The peers section of an ACTIVE_STANDBY load balancer, None when there is none to refer to."""
    try:
        return name(peers_section(spec.id)) if peer_lines(spec) else None
    except Unsafe:
        return None


def backend_view(pool: PoolSpec, listener: ListenerSpec, spec: LoadBalancerSpec, frontend_mode: str,
                 fullconn: int) -> BackendView | None:
    try:
        view = BackendView(
            pool_id=pool.id, name=backend_name(name(pool.id), name(listener.id)), mode=_mode(pool, frontend_mode),
            balance=BALANCE.get(pool.lb_algorithm, "roundrobin"), fullconn=fullconn,
            timeout_connect=int(listener.timeout_member_connect),
            timeout_server=int(listener.timeout_member_data), stick_size=spec.settings.stick_size,
            peers=peers_of(spec))
    except Unsafe:
        return None
    view.http_reuse = view.mode == "http"
    sp = pool.session_persistence
    if sp is not None:
        if sp.type == SP.SOURCE_IP:
            view.persistence = SP.SOURCE_IP
        elif sp.type == SP.HTTP_COOKIE and view.mode == "http":
            view.persistence = SP.HTTP_COOKIE
        elif sp.type == SP.APP_COOKIE and view.mode == "http" and sp.cookie_name:
            try:
                view.cookie_name = fetch_arg(sp.cookie_name)
                view.persistence = SP.APP_COOKIE
            except Unsafe:
                pass
    if pool.health_monitor is not None:
        _health(view, pool.health_monitor, spec)
    _headers(view, pool, listener)
    for m in pool.members:
        try:
            view.servers.append(_server(m, view, pool, listener, pool.health_monitor))
        except Unsafe:
            continue
    return view
