"""haproxy.cfg for one load balancer: `render_haproxy(spec)` and the crt-list of a TLS listener.

Pure functions of a `LoadBalancerSpec`. This module turns the spec into views whose user-supplied parts are
already checked or quoted (ostia/render/quoting.py); the Jinja templates in templates/haproxy only lay out
sections and directives. Layout and naming follow internals §6.1: one `frontend <listener_id>` per listener,
one `backend <pool_id>:<listener_id>` per pool a listener uses, servers named by member id.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2

from ostia.domain.enums import ListenerProtocol, PoolProtocol
from ostia.domain.spec import ListenerSpec, ListenerTlsSpec, LoadBalancerSpec, PoolSpec
from ostia.render import backend as backend_mod
from ostia.render.l7 import backend_name, render_policy
from ostia.render.quoting import Unsafe, address, name, network, quote
from ostia.render.tls import bind_tls_options

LP = ListenerProtocol

MODES = {LP.TCP: "tcp", LP.HTTP: "http", LP.HTTPS: "tcp", LP.TERMINATED_HTTPS: "http", LP.PROMETHEUS: "http"}
# Log-format fields that only exist for HTTP; Octavia shows "-" for them on TCP listeners.
_HTTP_LOG_FIELDS = ("%{+Q}r", "%ST")
_PROJECT_ID = re.compile(r"\A[A-Za-z0-9_-]*\Z")
MAX_GLOBAL_MAXCONN = 1_000_000


@dataclass
class FrontendView:
    name: str
    mode: str
    maxconn: int
    binds: list[str]
    timeout_client: int
    timeout_tcp_inspect: int
    log_format: str | None
    allowed_cidrs: list[str] = field(default_factory=list)
    redirect_to_https: bool = False
    hsts: str | None = None
    prometheus: bool = False
    acls: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    default_backend: str | None = None


@functools.cache
def _environment() -> jinja2.Environment:
    # Config text, not HTML: escaping is done per value by ostia.render.quoting, never by Jinja.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ostia.render", "templates"), autoescape=False, trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def frontend_maxconn(listener: ListenerSpec, spec: LoadBalancerSpec) -> int:
    s = spec.settings
    limit = listener.connection_limit if listener.connection_limit > 0 else s.default_connection_limit
    return max(1, min(limit, s.max_connections))


def global_maxconn(spec: LoadBalancerSpec) -> int:
    """Octavia's Σ of listener limits (1,000,000 when 0 or above), capped by what this machine can open."""
    total = sum(frontend_maxconn(li, spec) for li in spec.listeners)
    if total <= 0 or total >= MAX_GLOBAL_MAXCONN:
        total = MAX_GLOBAL_MAXCONN
    return max(1, min(total, spec.settings.max_connections))


def _log_format(listener: ListenerSpec, spec: LoadBalancerSpec) -> str | None:
    if not spec.settings.connection_logging or not spec.settings.log_target:
        return None
    project = spec.project_id if spec.project_id and _PROJECT_ID.match(spec.project_id) else "-"
    fmt = spec.settings.user_log_format.replace("{{ project_id }}", project).replace("{{ lb_id }}", spec.id)
    if MODES[LP(listener.protocol)] != "http":
        for f in _HTTP_LOG_FIELDS:
            fmt = fmt.replace(f, "-")
    try:
        return quote(fmt)
    except Unsafe:
        return None


def _hsts(listener: ListenerSpec) -> str | None:
    if listener.hsts is None or listener.tls is None:
        return None
    value = f"max-age={int(listener.hsts.max_age)};"
    if listener.hsts.include_subdomains:
        value += " includeSubDomains;"
    if listener.hsts.preload:
        value += " preload;"
    return quote(value)


def _binds(listener: ListenerSpec, spec: LoadBalancerSpec) -> list[str]:
    tls = bind_tls_options(listener.tls) if listener.tls else ""
    binds = []
    for vip in spec.vip_addresses:
        try:
            binds.append(f"{address(vip)}:{int(listener.protocol_port)}{tls}")
        except Unsafe:
            continue
    return binds


def _frontend(listener: ListenerSpec, spec: LoadBalancerSpec, rendered_pools: set[str]) -> FrontendView:
    mode = MODES[LP(listener.protocol)]
    cidrs = []
    for c in listener.allowed_cidrs:
        try:
            cidrs.append(network(c))
        except Unsafe:
            continue
    view = FrontendView(
        name=name(listener.id), mode=mode, maxconn=frontend_maxconn(listener, spec), binds=_binds(listener, spec),
        timeout_client=int(listener.timeout_client_data), timeout_tcp_inspect=int(listener.timeout_tcp_inspect),
        log_format=_log_format(listener, spec), allowed_cidrs=cidrs,
        redirect_to_https=listener.protocol == LP.TERMINATED_HTTPS and listener.tls is not None,
        hsts=_hsts(listener), prometheus=listener.protocol == LP.PROMETHEUS)
    if mode == "http" and not view.prometheus:
        for policy in listener.l7policies:
            if policy.redirect_pool_id and policy.redirect_pool_id not in rendered_pools:
                continue
            rendered = render_policy(policy, listener.id)
            if rendered is not None:
                view.acls.extend(rendered.acls)
                view.actions.append(rendered.action)
        # HAProxy runs every http-request rule before any use_backend, whatever the order in the file: write
        # them in that order (position order within each kind) so the file reads the way it behaves.
        view.actions.sort(key=lambda line: line.startswith("use_backend"))
    if listener.default_pool_id in rendered_pools and not view.prometheus:
        view.default_backend = backend_name(listener.default_pool_id, listener.id)
    return view


def _pools_of(listener: ListenerSpec, spec: LoadBalancerSpec) -> list[PoolSpec]:
    """The pools a listener routes to: its default pool, then L7 targets in policy order, each once."""
    ids = [listener.default_pool_id] + [p.redirect_pool_id for p in listener.l7policies]
    pools = []
    for pool_id in dict.fromkeys(i for i in ids if i):
        pool = spec.pool(pool_id)
        if pool is not None and pool.protocol not in (PoolProtocol.UDP, PoolProtocol.SCTP):
            pools.append(pool)
    return pools


def _peers(spec: LoadBalancerSpec) -> dict[str, Any] | None:
    section = backend_mod.peers_of(spec)
    return None if section is None else {"section": section, "lines": backend_mod.peer_lines(spec)}


def render_haproxy(spec: LoadBalancerSpec) -> str:
    s = spec.settings
    sections: list[dict[str, Any]] = []
    ping = False
    for listener in spec.listeners:
        if listener.protocol not in MODES:  # UDP and SCTP go to the UDP proxy, not HAProxy
            continue
        try:
            name(listener.id)
        except Unsafe:
            continue
        pools = [] if listener.protocol == LP.PROMETHEUS else _pools_of(listener, spec)
        mode, limit = MODES[LP(listener.protocol)], frontend_maxconn(listener, spec)
        backends = [b for b in (backend_mod.backend_view(p, listener, spec, mode, limit) for p in pools)
                    if b is not None]
        frontend = _frontend(listener, spec, {b.pool_id for b in backends})
        if not frontend.binds:
            continue
        ping = ping or any(b.health_type == "PING" for b in backends)
        sections.append({"frontend": frontend, "backends": backends})
    context = {
        "lb_id": spec.id,
        "settings": s,
        "log_target": quote(s.log_target) if s.log_target else None,
        "stats_socket": quote(s.stats_socket or f"{s.base_dir}/{spec.id}.sock"),
        "server_state_file": quote(f"{s.base_dir}/{spec.id}/servers-state") if s.server_state_file else None,
        "maxconn": global_maxconn(spec),
        "external_check": ping,
        "ping_wrapper": quote(s.ping_wrapper),
        "sections": sections,
        "peers": _peers(spec),
    }
    return _environment().get_template("haproxy/haproxy.cfg.j2").render(context)


def render_crt_list(tls: ListenerTlsSpec) -> str:
    """The crt-list file a TLS listener's bind line points at: the default certificate first, then the SNI
    certificates (HAProxy picks those by the names in each certificate)."""
    return "".join(f"{path}\n" for path in dict.fromkeys(tls.certificates))
