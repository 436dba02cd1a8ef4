"""Pool request bodies and wire form (§2.3, §3.5)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import lazyload, load_only, selectinload

from ostia.api.schemas import health_monitor as hm_schema
from ostia.api.schemas import member as member_schema
from ostia.api.schemas.common import common, ids, text
from ostia.api.schemas.tls import Alpn, Ciphers, TlsVersion
from ostia.api.schemas.types import STRICT_OBJECT, Bool, IpStr, Seconds, Str36, Str255, TagList, UuidStr
from ostia.db.models import HealthMonitor, L7Policy, Listener, Member, Pool
from ostia.domain.enums import LbAlgorithm, PoolProtocol, SessionPersistenceType
from ostia.domain.rules_pool import normalize_session_persistence


class SessionPersistencePUT(BaseModel):
    model_config = STRICT_OBJECT
    type: SessionPersistenceType | None = None
    cookie_name: Str255 | None = None
    persistence_timeout: Seconds | None = None
    persistence_granularity: IpStr | None = None


class SessionPersistencePOST(SessionPersistencePUT):
    type: SessionPersistenceType  # required on create; the redefinition keeps its place first


# A model's fields are validated, and the first bad one reported, in pydantic's order: its bases' fields,
# last base first, then its own. POST and PUT therefore keep their own fields in a last base and the TLS
# options they share (their last fields) in the first one, to keep Octavia's order.


class _PoolTlsOptions(BaseModel):
    tls_container_ref: Str255 | None = None
    ca_tls_container_ref: Str255 | None = None
    crl_container_ref: Str255 | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None


class _PoolPOSTLeading(BaseModel):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool = True
    listener_id: UuidStr | None = None
    loadbalancer_id: UuidStr | None = None
    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    session_persistence: SessionPersistencePOST | None = None
    project_id: Str36 | None = None  # deprecated: pools inherit the load balancer's project
    tenant_id: Str36 | None = None
    tags: TagList = Field(default_factory=list)
    tls_enabled: Bool = False


class PoolPOST(_PoolTlsOptions, _PoolPOSTLeading):
    model_config = STRICT_OBJECT


class PoolPOSTBody(BaseModel):
    pool: PoolPOST


class _PoolPUTLeading(BaseModel):
    name: Str255 | None = None
    description: Str255 | None = None
    admin_state_up: Bool | None = None
    lb_algorithm: LbAlgorithm | None = None
    session_persistence: SessionPersistencePUT | None = None
    tags: TagList | None = None
    tls_enabled: Bool | None = None


class PoolPUT(_PoolTlsOptions, _PoolPUTLeading):
    model_config = STRICT_OBJECT


class PoolPUTBody(BaseModel):
    pool: PoolPUT


def _ids_only(relationship: Any, *columns: Any) -> Any:
    """Eager-load a child collection with just what the wire form needs (ids), not the children's tags."""
    target = relationship.property.mapper.class_
    return selectinload(relationship).options(load_only(*columns), lazyload(target.tag_rows))


# Loader options for rendering pools: a pool may have thousands of members, the wire form only names them.
WIRE_OPTIONS = (
    _ids_only(Pool.members, Member.id),
    _ids_only(Pool.health_monitor, HealthMonitor.id),
    _ids_only(Pool.default_of_listeners, Listener.id),
    _ids_only(Pool.redirecting_l7policies, L7Policy.id, L7Policy.listener_id),
)


def listener_ids(pool: Pool) -> list[dict[str, str]]:
    """Listeners this pool serves: as their default pool, or as the target of one of their L7 policies."""
    seen = dict.fromkeys([*(listener.id for listener in pool.default_of_listeners),
                          *(policy.listener_id for policy in pool.redirecting_l7policies)])
    return [{"id": i} for i in seen]


def _base(pool: Pool) -> dict[str, Any]:
    return {
        **common(pool),
        "name": text(pool.name),
        "description": text(pool.description),
        "protocol": pool.protocol,
        "lb_algorithm": pool.lb_algorithm,
        "session_persistence": normalize_session_persistence(pool.session_persistence),
        "listeners": listener_ids(pool),
        "tls_enabled": pool.tls_enabled,
        "tls_container_ref": pool.tls_container_ref,
        "ca_tls_container_ref": pool.ca_tls_container_ref,
        "crl_container_ref": pool.crl_container_ref,
        "tls_ciphers": pool.tls_ciphers,
        "tls_versions": list(pool.tls_versions) if pool.tls_versions is not None else None,
        "alpn_protocols": list(pool.alpn_protocols) if pool.alpn_protocols is not None else None,
    }


def to_wire(pool: Pool) -> dict[str, Any]:
    wire = {**_base(pool), "loadbalancers": [{"id": pool.load_balancer_id}], "members": ids(pool.members)}
    if pool.health_monitor is not None:  # omitted (WSME "Unset") when the pool has none
        wire["healthmonitor_id"] = pool.health_monitor.id
    return wire


def to_wire_full(pool: Pool) -> dict[str, Any]:
    """The single-call create form (§2.12): full members and health monitor, no `loadbalancers`."""
    hm = pool.health_monitor
    return {**_base(pool), "members": [member_schema.to_wire(m) for m in pool.members],
            "healthmonitor": hm_schema.to_wire_full(hm) if hm is not None else None}
