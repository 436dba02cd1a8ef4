"""Build the HAProxy desired state of one load balancer from its database rows (internals §6.1).

What Octavia leaves out of haproxy.cfg is left out here: objects being deleted (PENDING_DELETE, DELETED),
admin-down listeners and pools (a listener whose default pool is down has no default_backend), admin-down or
rule-less L7 policies, admin-down rules, admin-down health monitors, and UDP/SCTP listeners, which are not
HAProxy's. Admin-down members stay, as `disabled` servers. Certificate containers become file paths under
`settings.cert_dir/<lb_id>/` named by `cert_file_name(ref)`; writing those files is the agent's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ostia.db.models import HealthMonitor, L7Policy, Listener, LoadBalancer, Pool
from ostia.domain.enums import AmphoraStatus, ListenerProtocol, ProvisioningStatus, Topology
from ostia.domain.errors import NotFound
from ostia.domain.listeners import LVS_PROTOCOLS
from ostia.domain.peers import peer_name
from ostia.domain.spec import (
    HealthMonitorSpec,
    HstsSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    ListenerTlsSpec,
    LoadBalancerSpec,
    MemberSpec,
    PeerSpec,
    PoolSpec,
    PoolTlsSpec,
    RenderSettings,
    SessionPersistenceSpec,
    cert_file_name,
)
from ostia.domain.tls import DEFAULT_ALPN_PROTOCOLS, DEFAULT_TLS_VERSIONS

_GONE = frozenset({ProvisioningStatus.PENDING_DELETE, ProvisioningStatus.DELETED})
R = TypeVar("R")


def _live(rows: Iterable[R], enabled_only: bool = True) -> list[R]:
    return [r for r in rows if getattr(r, "provisioning_status", None) not in _GONE
            and (not enabled_only or getattr(r, "admin_state_up", True))]


class _Paths:
    def __init__(self, settings: RenderSettings, lb_id: str) -> None:
        self.dir = f"{settings.cert_dir}/{lb_id}"

    def cert(self, ref: str | None) -> str | None:
        return f"{self.dir}/{cert_file_name(ref)}" if ref else None


def _listener_tls(li: Listener, paths: _Paths) -> ListenerTlsSpec | None:
    if li.protocol not in (ListenerProtocol.TERMINATED_HTTPS, ListenerProtocol.PROMETHEUS):
        return None
    # The default certificate first; with SNI certificates only, the first of them is the default.
    refs = [r for r in [li.default_tls_container_ref, *(li.sni_container_refs or [])] if isinstance(r, str) and r]
    if not refs:
        return None
    return ListenerTlsSpec(
        crt_list_path=f"{paths.dir}/{li.id}.crt-list",
        certificates=tuple(dict.fromkeys(f"{paths.dir}/{cert_file_name(r)}" for r in refs)),
        client_authentication=li.client_authentication or "NONE",
        client_ca_path=paths.cert(li.client_ca_tls_container_ref),
        client_crl_path=paths.cert(li.client_crl_container_ref) if li.client_ca_tls_container_ref else None,
        ciphers=li.tls_ciphers,
        versions=tuple(li.tls_versions if li.tls_versions is not None else DEFAULT_TLS_VERSIONS),
        alpn_protocols=tuple(li.alpn_protocols if li.alpn_protocols is not None else DEFAULT_ALPN_PROTOCOLS))


def _policy(p: L7Policy, pools: set[str]) -> L7PolicySpec | None:
    rules = tuple(L7RuleSpec(id=r.id, type=r.type, compare_type=r.compare_type, value=r.value, key=r.key,
                             invert=bool(r.invert)) for r in _live(p.rules))
    if not rules:
        return None
    if p.action == "REDIRECT_TO_POOL" and p.redirect_pool_id not in pools:
        return None  # the target pool is down or going away: Octavia renders no use_backend for it
    return L7PolicySpec(id=p.id, action=p.action, position=p.position, rules=rules,
                        redirect_pool_id=p.redirect_pool_id, redirect_url=p.redirect_url,
                        redirect_prefix=p.redirect_prefix, redirect_http_code=p.redirect_http_code)


def _listener(li: Listener, pools: set[str], paths: _Paths) -> ListenerSpec:
    policies = [_policy(p, pools) for p in sorted(_live(li.l7policies), key=lambda p: p.position)]
    headers: dict[str, Any] = li.insert_headers or {}
    hsts = None
    if li.hsts_max_age is not None and li.protocol == ListenerProtocol.TERMINATED_HTTPS:
        hsts = HstsSpec(max_age=li.hsts_max_age, include_subdomains=bool(li.hsts_include_subdomains),
                        preload=bool(li.hsts_preload))
    return ListenerSpec(
        id=li.id, protocol=li.protocol, protocol_port=li.protocol_port,
        connection_limit=li.connection_limit if li.connection_limit is not None else -1,
        default_pool_id=li.default_pool_id if li.default_pool_id in pools else None,
        l7policies=tuple(p for p in policies if p is not None),
        insert_headers=tuple((str(k), str(v)) for k, v in sorted(headers.items())),
        allowed_cidrs=tuple(li.allowed_cidrs or ()),
        timeout_client_data=li.timeout_client_data, timeout_member_connect=li.timeout_member_connect,
        timeout_member_data=li.timeout_member_data, timeout_tcp_inspect=li.timeout_tcp_inspect,
        tls=_listener_tls(li, paths), hsts=hsts)


def _monitor(hm: HealthMonitor | None) -> HealthMonitorSpec | None:
    if hm is None or hm.provisioning_status in _GONE or not hm.admin_state_up:
        return None
    return HealthMonitorSpec(type=hm.type, delay=hm.delay, timeout=hm.timeout, max_retries=hm.max_retries,
                             max_retries_down=hm.max_retries_down, http_method=hm.http_method,
                             url_path=hm.url_path, expected_codes=hm.expected_codes, http_version=hm.http_version,
                             domain_name=hm.domain_name)


def _pool(pool: Pool, paths: _Paths) -> PoolSpec:
    sp = pool.session_persistence or None
    persistence = SessionPersistenceSpec(type=str(sp["type"]), cookie_name=sp.get("cookie_name")) \
        if sp and sp.get("type") else None
    tls = None
    if pool.tls_enabled:
        tls = PoolTlsSpec(client_cert_path=paths.cert(pool.tls_container_ref),
                          ca_path=paths.cert(pool.ca_tls_container_ref),
                          crl_path=paths.cert(pool.crl_container_ref) if pool.ca_tls_container_ref else None,
                          ciphers=pool.tls_ciphers, versions=tuple(pool.tls_versions or ()),
                          alpn_protocols=tuple(pool.alpn_protocols or ()))
    members = tuple(MemberSpec(id=m.id, address=m.address, protocol_port=m.protocol_port, weight=m.weight,
                               backup=bool(m.backup), enabled=bool(m.admin_state_up),
                               monitor_address=m.monitor_address, monitor_port=m.monitor_port)
                    for m in _live(pool.members, enabled_only=False))
    return PoolSpec(id=pool.id, protocol=pool.protocol, lb_algorithm=pool.lb_algorithm, members=members,
                    session_persistence=persistence, health_monitor=_monitor(pool.health_monitor), tls=tls)


def _peers(lb: LoadBalancer) -> tuple[PeerSpec, ...]:
    """ACTIVE_STANDBY: the ALLOCATED amphorae with a VRRP address (as Octavia's peers_macro), in id order so the
    rendered text, and the config hash heartbeats are compared with, do not depend on row order."""
    if lb.topology != Topology.ACTIVE_STANDBY:
        return ()
    amps = sorted((a for a in lb.amphorae if a.status == AmphoraStatus.ALLOCATED and a.vrrp_ip), key=lambda a: a.id)
    return tuple(PeerSpec(name=peer_name(a.id), address=str(a.vrrp_ip)) for a in amps)


def build_spec(lb: LoadBalancer, settings: RenderSettings) -> LoadBalancerSpec:
    paths = _Paths(settings, lb.id)
    pools = [p for p in _live(lb.pools) if p.protocol not in LVS_PROTOCOLS]
    pool_ids = {p.id for p in pools}
    listeners = [li for li in _live(lb.listeners) if li.protocol not in LVS_PROTOCOLS]
    vips = [lb.vip_address] + [v.ip_address for v in lb.additional_vips]
    return LoadBalancerSpec(
        id=lb.id, project_id=lb.project_id, vip_addresses=tuple(v for v in vips if v),
        listeners=tuple(_listener(li, pool_ids, paths) for li in listeners),
        pools=tuple(_pool(p, paths) for p in pools), settings=settings, peers=_peers(lb))


def load_balancer_spec(session: Session, lb_id: str, settings: RenderSettings) -> LoadBalancerSpec:
    lb = session.get(LoadBalancer, lb_id)
    if lb is None:
        raise NotFound("Load Balancer", lb_id)
    return build_spec(lb, settings)
