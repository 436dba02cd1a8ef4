"""Desired state of one load balancer's HAProxy configuration (internals §6.1), as frozen values.

The database layer builds a `LoadBalancerSpec` (ostia/db/to_spec.py) and the renderer turns it into
haproxy.cfg text (ostia/render/haproxy.py). Nothing here does I/O: the spec only holds what the config says,
including the file paths certificates will have once the agent has written them. Objects the config must not
show (deleted, pending delete, admin-down listeners, UDP/SCTP listeners) are left out by the builder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# HAProxy needs two file descriptors per proxied connection plus, with `option splice-*`, a pipe (two more)
# per four connections: about 2.5 x maxconn + 40. This machine's hard nofile limit is 20000 (machine-notes) and
# a process asked for more refuses to start ("Cannot raise FD limit"; 8000 needs 20041), so the global maxconn
# is capped with room left for listeners and health checks.
MACHINE_MAX_CONNECTIONS = 7500
DEFAULT_CONNECTION_LIMIT = 50000  # [haproxy_amphora] default_connection_limit
DEFAULT_USER_LOG_FORMAT = (
    "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc")


@dataclass(frozen=True)
class RenderSettings:
    """Operator settings and paths that are the same for every load balancer of one controller."""

    base_dir: str = "/var/lib/ostia"  # per-LB state: <base_dir>/<lb_id>/...
    cert_dir: str = "/var/lib/ostia/certs"  # <cert_dir>/<lb_id>/<file>.pem
    log_target: str | None = "/run/rsyslog/ostia/log"  # None: no log lines in global
    user_log_facility: int = 0
    administrative_log_facility: int = 1
    connection_logging: bool = True
    user_log_format: str = DEFAULT_USER_LOG_FORMAT
    user: str | None = "nobody"
    daemon: bool = True
    stats_socket: str | None = None  # None: <base_dir>/<lb_id>.sock
    server_state_file: bool = True
    default_connection_limit: int = DEFAULT_CONNECTION_LIMIT
    max_connections: int = MACHINE_MAX_CONNECTIONS
    stick_size: str = "10k"
    ping_wrapper: str = "/var/lib/ostia/ping-wrapper.sh"


def cert_file_name(ref: str) -> str:
    """File name a certificate container is stored under: stable per ref and free of path syntax."""
    return hashlib.sha256(ref.encode()).hexdigest()[:32] + ".pem"


@dataclass(frozen=True)
class L7RuleSpec:
    id: str
    type: str  # L7RuleType
    compare_type: str  # L7RuleCompareType
    value: str
    key: str | None = None
    invert: bool = False


@dataclass(frozen=True)
class L7PolicySpec:
    """An enabled policy with at least one enabled rule, in position order within its listener."""

    id: str
    action: str  # L7PolicyAction
    position: int
    rules: tuple[L7RuleSpec, ...]
    redirect_pool_id: str | None = None  # only when the target pool is rendered (enabled)
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None


@dataclass(frozen=True)
class ListenerTlsSpec:
    """TLS termination of a TERMINATED_HTTPS listener: files the agent writes, plus the handshake settings."""

    crt_list_path: str
    # PEM files (certificate, chain and key) listed in the crt-list; the first is the default certificate,
    # the others are picked by SNI from their own names.
    certificates: tuple[str, ...]
    client_authentication: str = "NONE"  # ClientAuthentication
    client_ca_path: str | None = None
    client_crl_path: str | None = None
    ciphers: str | None = None
    versions: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] = ()


@dataclass(frozen=True)
class HstsSpec:
    max_age: int
    include_subdomains: bool = False
    preload: bool = False


@dataclass(frozen=True)
class ListenerSpec:
    id: str
    protocol: str  # ListenerProtocol other than UDP/SCTP
    protocol_port: int
    connection_limit: int = -1  # -1: RenderSettings.default_connection_limit
    default_pool_id: str | None = None  # only when the pool is rendered (enabled)
    l7policies: tuple[L7PolicySpec, ...] = ()
    insert_headers: tuple[tuple[str, str], ...] = ()  # (header, value) as stored, e.g. ("X-Forwarded-For", "true")
    allowed_cidrs: tuple[str, ...] = ()
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    tls: ListenerTlsSpec | None = None
    hsts: HstsSpec | None = None


@dataclass(frozen=True)
class HealthMonitorSpec:
    type: str  # HealthMonitorType
    delay: int
    timeout: int
    max_retries: int  # rise
    max_retries_down: int = 3  # fall
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None
    http_version: float | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class MemberSpec:
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    backup: bool = False
    enabled: bool = True  # admin_state_up
    monitor_address: str | None = None
    monitor_port: int | None = None


@dataclass(frozen=True)
class SessionPersistenceSpec:
    type: str  # SessionPersistenceType
    cookie_name: str | None = None


@dataclass(frozen=True)
class PoolTlsSpec:
    """Re-encryption towards the members."""

    client_cert_path: str | None = None
    ca_path: str | None = None
    crl_path: str | None = None
    ciphers: str | None = None
    versions: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoolSpec:
    id: str
    protocol: str  # PoolProtocol
    lb_algorithm: str
    members: tuple[MemberSpec, ...] = ()
    session_persistence: SessionPersistenceSpec | None = None
    health_monitor: HealthMonitorSpec | None = None
    tls: PoolTlsSpec | None = None


@dataclass(frozen=True)
class PeerSpec:
    """One amphora of an ACTIVE_STANDBY load balancer as an HAProxy peer (ostia/domain/peers.py)."""

    name: str  # peer_name(amphora_id)
    address: str  # its VRRP address; the peer port is fixed


@dataclass(frozen=True)
class LoadBalancerSpec:
    id: str
    project_id: str | None
    vip_addresses: tuple[str, ...]  # the primary VIP first, then additional VIPs
    listeners: tuple[ListenerSpec, ...] = ()
    pools: tuple[PoolSpec, ...] = ()
    settings: RenderSettings = field(default_factory=RenderSettings)
    # ACTIVE_STANDBY: every ALLOCATED amphora, so stick tables are synchronised; empty (no peers) for SINGLE.
    peers: tuple[PeerSpec, ...] = ()

    def pool(self, pool_id: str) -> PoolSpec | None:
        return next((p for p in self.pools if p.id == pool_id), None)
