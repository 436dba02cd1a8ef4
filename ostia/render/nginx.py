"""nginx.conf for one UDP listener: `render_nginx(spec, down, paths)`.

A pure function of a `UdpListenerSpec`, the ids of the members the agent's health checks currently hold DOWN,
and the agent's file paths. Choices, and where they differ from Octavia's keepalived/LVS (internals §6.3):

* Algorithms: ROUND_ROBIN is nginx's default (weighted round robin), LEAST_CONNECTIONS `least_conn`, SOURCE_IP
  `hash $remote_addr consistent`. SOURCE_IP session persistence also becomes that hash: persistence lasts as
  long as the set of live members is unchanged, not `persistence_timeout` seconds (nginx keeps no table).
  `persistence_granularity` is honoured for IPv4 masks on an octet boundary; other masks are rounded down to
  the octet boundary below (a coarser group still sticks together); IPv6 clients always hash whole.
* Members: admin-down, weight 0 and health-DOWN members are written `down` (so the file still lists every
  member). `max_fails=0` turns nginx's passive checks off: the agent's monitor alone decides, as LVS does.
* Backup members: `backup` with round robin and least_conn. nginx refuses `backup` together with `hash`, so with
  SOURCE_IP the backups are left out while any primary can serve, and become the (only live) servers once every
  primary is down; the agent re-renders on each health change, which gives LVS-like failover to backups.
* connection_limit (> 0) becomes `limit_conn` on the listener port (UDP "connections" are nginx sessions),
  capped at MAX_SESSIONS: each session holds a client and an upstream descriptor and this machine's nofile
  limit is 20000 (machine-notes).
* Request/response UDP (DNS, RADIUS...): `proxy_responses 1` ends a session at the first answer so the next
  datagram is balanced afresh, and `proxy_timeout 10s` ends sessions nobody answers. Measured with nginx 1.22:
  a client sent to a dead member that is not yet marked down gets an empty datagram back (ICMP refused upstream).
* A pool with no members renders no `server {}` block: nothing listens on the VIP port (nginx refuses an empty
  upstream, and answering from nginx itself would be wrong for UDP).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jinja2

from ostia.domain.enums import LbAlgorithm
from ostia.domain.udp import UdpListenerSpec, UdpMemberSpec
from ostia.render.quoting import Unsafe, address, name, network

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
WORKER_CONNECTIONS = 8192
MAX_SESSIONS = WORKER_CONNECTIONS // 2 - 96  # a little room for the listening sockets and logs
PROXY_RESPONSES = 1
PROXY_TIMEOUT = "10s"
_BARE = re.compile(r"\A[A-Za-z0-9_./@+:-]+\Z")
_UNQUOTABLE = re.compile(r"[\x00-\x1f\x7f\"\\$]")


@dataclass(frozen=True)
class NginxPaths:
    pid_file: str
    error_log: str
    stream_module: str = STREAM_MODULE


@dataclass(frozen=True)
class ServerView:
    member_id: str
    endpoint: str
    options: str
    note: str


def path(value: str) -> str:
    """A file path as one nginx word. nginx reads `\\` escapes and (in some directives) `$variables` even
    inside quotes, so paths holding those, quotes or control characters are refused."""
    if _UNQUOTABLE.search(value) or not value:
        raise Unsafe(f"not usable as an nginx path: {value!r}")
    return value if _BARE.match(value) else f'"{value}"'


def _endpoint(ip: str, port: int) -> str:
    checked = address(ip)
    host = f"[{checked}]" if ":" in checked else checked
    return f"{host}:{int(port)}"


def _uses_hash(spec: UdpListenerSpec) -> bool:
    return spec.lb_algorithm == LbAlgorithm.SOURCE_IP or spec.session_persistence is not None


def _persistence_map(spec: UdpListenerSpec) -> dict[str, Any] | None:
    sp = spec.session_persistence
    if sp is None or not sp.persistence_granularity:
        return None
    try:
        prefix = ipaddress.ip_network(f"0.0.0.0/{sp.persistence_granularity}").prefixlen
    except ValueError:
        return None  # an IPv6 mask: clients hash on their whole address
    octets = prefix // 8
    if octets >= 4:
        return None
    # The first `octets` octets of an IPv4 client address; with none, every IPv4 client shares one key.
    regex = r"~^(" + r"\.".join([r"\d+"] * octets) + r")\." if octets else r"~^()\d+\."
    return {"granularity": address(sp.persistence_granularity), "prefix": octets * 8, "regex": regex}


def _balance(spec: UdpListenerSpec, key: str) -> str | None:
    if _uses_hash(spec):
        return f"hash {key} consistent"
    if spec.lb_algorithm == LbAlgorithm.LEAST_CONNECTIONS:
        return "least_conn"
    return None


def _servers(spec: UdpListenerSpec, down: Collection[str]) -> list[ServerView]:
    members: list[UdpMemberSpec] = []
    for m in spec.members:
        try:
            name(m.id)
            _endpoint(m.address, m.protocol_port)
        except Unsafe:
            continue
        members.append(m)

    def live(m: UdpMemberSpec) -> bool:
        return m.enabled and m.weight > 0 and m.id not in down

    hashing = _uses_hash(spec)
    if hashing and any(live(m) for m in members if not m.backup):
        members = [m for m in members if not m.backup]
    views = []
    for m in members:
        if not m.enabled:
            options, note = " down", " (admin down)"
        elif m.weight <= 0:
            options, note = " down", " (weight 0)"
        elif m.id in down:
            options, note = " down", " (health check DOWN)"
        else:
            options, note = f" weight={int(m.weight)} max_fails=0", ""
        if m.backup:
            if hashing:
                note += " (backup, serving: every primary is down)"
            else:
                options += " backup"
        views.append(ServerView(member_id=m.id, endpoint=_endpoint(m.address, m.protocol_port),
                                options=options, note=note))
    return views


@functools.cache
def _environment() -> jinja2.Environment:
    # Config text, not HTML: values are checked in this module, never escaped by Jinja.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ostia.render", "templates"), autoescape=False, trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def connection_limit(spec: UdpListenerSpec) -> int | None:
    return min(spec.connection_limit, MAX_SESSIONS) if spec.connection_limit > 0 else None


def render_nginx(spec: UdpListenerSpec, down: Collection[str], paths: NginxPaths) -> str:
    """The nginx.conf text; raises Unsafe when the listener id or a path cannot be written safely."""
    listens = [_endpoint(vip, spec.protocol_port) for vip in spec.vip_addresses]
    pmap = _persistence_map(spec)
    context = {
        "listener_id": name(spec.id),
        "upstream": name(spec.id),
        "stream_module": path(paths.stream_module),
        "pid_file": path(paths.pid_file),
        "error_log": path(paths.error_log),
        "worker_connections": WORKER_CONNECTIONS,
        "persistence_map": pmap,
        "balance": _balance(spec, "$ostia_source" if pmap else "$remote_addr"),
        "servers": _servers(spec, down),
        "listens": listens,
        "proxy_responses": PROXY_RESPONSES,
        "proxy_timeout": PROXY_TIMEOUT,
        "connection_limit": connection_limit(spec),
        "allowed_cidrs": [network(c) for c in spec.allowed_cidrs],
    }
    return _environment().get_template("nginx/nginx.conf.j2").render(context)
