"""Build the desired state of a load balancer's UDP listeners from its database rows.

The UDP counterpart of ostia/db/to_spec.py, following what Octavia puts into its per-listener LVS config
(internals §6.3): only enabled UDP listeners that have an enabled default pool get a spec; members being deleted
(PENDING_DELETE, DELETED) are left out, admin-down members stay (rendered `down`, so the file shows them); an
admin-down or deleted health monitor means "no check". SCTP listeners are not included: nginx cannot proxy SCTP
and this kernel has no SCTP support anyway.
"""

from __future__ import annotations

from typing import Any

from ostia.db.models import HealthMonitor, Listener, LoadBalancer, Pool
from ostia.domain.enums import ListenerProtocol, ProvisioningStatus, SessionPersistenceType
from ostia.domain.udp import (
    DEFAULT_PERSISTENCE_TIMEOUT,
    UdpHealthMonitorSpec,
    UdpListenerSpec,
    UdpMemberSpec,
    UdpSessionPersistenceSpec,
)

_GONE = frozenset({ProvisioningStatus.PENDING_DELETE, ProvisioningStatus.DELETED})


def _alive(row: Any) -> bool:
    return getattr(row, "provisioning_status", None) not in _GONE


def _monitor(hm: HealthMonitor | None) -> UdpHealthMonitorSpec | None:
    if hm is None or not _alive(hm) or not hm.admin_state_up:
        return None
    return UdpHealthMonitorSpec(type=hm.type, delay=hm.delay, timeout=hm.timeout, max_retries=hm.max_retries,
                                max_retries_down=hm.max_retries_down, http_method=hm.http_method,
                                url_path=hm.url_path, expected_codes=hm.expected_codes, domain_name=hm.domain_name)


def _persistence(pool: Pool) -> UdpSessionPersistenceSpec | None:
    sp: dict[str, Any] | None = pool.session_persistence
    if not sp or sp.get("type") != SessionPersistenceType.SOURCE_IP:
        return None
    timeout = sp.get("persistence_timeout")
    return UdpSessionPersistenceSpec(
        persistence_timeout=int(timeout) if timeout is not None else DEFAULT_PERSISTENCE_TIMEOUT,
        persistence_granularity=sp.get("persistence_granularity") or None)


def _listener(li: Listener, pool: Pool, vips: tuple[str, ...]) -> UdpListenerSpec:
    members = tuple(UdpMemberSpec(id=m.id, address=m.address, protocol_port=m.protocol_port, weight=m.weight,
                                  enabled=bool(m.admin_state_up), backup=bool(m.backup),
                                  monitor_address=m.monitor_address, monitor_port=m.monitor_port)
                    for m in pool.members if _alive(m))
    return UdpListenerSpec(
        id=li.id, protocol_port=li.protocol_port, vip_addresses=vips, lb_algorithm=pool.lb_algorithm,
        connection_limit=li.connection_limit if li.connection_limit is not None else -1,
        session_persistence=_persistence(pool), members=members, health_monitor=_monitor(pool.health_monitor),
        pool_id=pool.id, allowed_cidrs=tuple(li.allowed_cidrs or ()))


def udp_listener_specs(lb: LoadBalancer) -> list[UdpListenerSpec]:
    vips = tuple(v for v in [lb.vip_address, *(a.ip_address for a in lb.additional_vips)] if v)
    specs = []
    for li in lb.listeners:
        if li.protocol != ListenerProtocol.UDP or not _alive(li) or not li.admin_state_up:
            continue
        pool = li.default_pool
        if pool is None or not _alive(pool) or not pool.admin_state_up:
            continue
        specs.append(_listener(li, pool, vips))
    return specs
