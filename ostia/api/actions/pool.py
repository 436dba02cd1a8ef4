"""Pool writes (§2.3, §3.1, §3.5, §4): rules, quota and one transaction of rows plus a job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.api.actions import certs, common
from ostia.api.context import RequestContext
from ostia.api.schemas import pool as schema
from ostia.api.schemas.pool import PoolPOST, PoolPUT
from ostia.api.services import ApiServices
from ostia.db.models import L7Policy, Listener, LoadBalancer, Pool
from ostia.domain import errors, providers, rules_pool, tls
from ostia.domain.enums import ListenerProtocol, OperatingStatus, ProvisioningStatus
from ostia.domain.protocols import check_pool_protocol


def affected_listeners(session: Session, pool: Pool) -> list[Listener]:
    """Listeners whose configuration names the pool: as default pool or through an L7 redirect (§4.1)."""
    via_policies = select(L7Policy.listener_id).where(L7Policy.redirect_pool_id == pool.id)
    return list(session.scalars(select(Listener).where(
        (Listener.default_pool_id == pool.id) | Listener.id.in_(via_policies)).order_by(Listener.created_at)))


def rendered_pool(session: Session, pool: Pool) -> dict[str, Any]:
    """A pool's wire form read back with its children by id only (it may have thousands of members)."""
    session.flush()
    fresh = session.scalars(select(Pool).options(*schema.WIRE_OPTIONS).where(Pool.id == pool.id)
                            .execution_options(populate_existing=True)).one()
    return schema.to_wire(fresh)


def load_for_change(session: Session, pool_id: str) -> tuple[Pool, LoadBalancer]:
    """The pool (404) and its load balancer, row-locked; the pool is re-read under the lock."""
    pool = common.get_or_404(session, Pool, pool_id, "Pool")
    lb = common.get_or_404(session, LoadBalancer, pool.load_balancer_id, "Load Balancer", lock=True)
    common.reread(session, pool, "Pool")
    return pool, lb


def _check_tls(svc: ApiServices, tls_ciphers: str | None, tls_versions: list[str] | None,
               alpn_protocols: list[str] | None) -> None:
    api = svc.conf.api_settings
    tls.check_ciphers(tls_ciphers, api.tls_cipher_prohibit_list)
    tls.check_tls_versions(tls_versions, api.minimum_tls_version)
    tls.check_alpn_protocols(alpn_protocols)


def check_pool(svc: ApiServices, lb: LoadBalancer, body: PoolPOST, listener: Listener | None) -> None:
    """Everything about a new pool that needs no further database reads."""
    if listener is not None:
        if listener.protocol == ListenerProtocol.PROMETHEUS:
            raise errors.BadRequest(f"Protocol {ListenerProtocol.PROMETHEUS} listeners cannot have child objects.")
        check_pool_protocol(listener.protocol, body.protocol)
    if body.session_persistence is not None:
        rules_pool.check_session_persistence(body.protocol, body.session_persistence.model_dump(mode="json"))
    rules_pool.check_ca_and_crl(body.ca_tls_container_ref, body.crl_container_ref)
    _check_tls(svc, body.tls_ciphers, body.tls_versions, body.alpn_protocols)


def check_refs(svc: ApiServices, ctx: RequestContext, client_ref: str | None, ca_ref: str | None,
               crl_ref: str | None) -> None:
    """The pool's client certificate (for re-encryption) and its CA/CRL for checking members must resolve."""
    certs.check_certificates(svc, ctx, [client_ref])
    certs.check_ca_and_crl(svc, ctx, ca_ref, crl_ref)


def new_pool(svc: ApiServices, ctx: RequestContext, session: Session, lb: LoadBalancer, body: PoolPOST,
             listener: Listener | None = None) -> Pool:
    """Validate and add a pool row (PENDING_CREATE) on an already locked LB; with `listener` the pool becomes
    its default pool. No status checks, quota, job or commit: the caller (standalone POST or graph) does those."""
    check_pool(svc, lb, body, listener)
    check_refs(svc, ctx, body.tls_container_ref, body.ca_tls_container_ref, body.crl_container_ref)
    if listener is not None and listener.default_pool_id:
        raise errors.Conflict("This listener already has a default pool")
    # The provider's own refusals (501) come after the LB lock, as Octavia's driver call does: a busy LB is 409.
    providers.check_protocol(lb.provider, body.protocol, "pools")
    rules_pool.check_algorithm(lb.provider, body.lb_algorithm)
    tls_on = body.tls_enabled
    pool = Pool(
        project_id=lb.project_id, load_balancer_id=lb.id, name=body.name, description=body.description,
        admin_state_up=body.admin_state_up, protocol=body.protocol, lb_algorithm=body.lb_algorithm,
        session_persistence=rules_pool.normalize_session_persistence(
            body.session_persistence.model_dump(mode="json") if body.session_persistence else None),
        provisioning_status=ProvisioningStatus.PENDING_CREATE, operating_status=OperatingStatus.OFFLINE,
        tls_enabled=tls_on, tls_container_ref=body.tls_container_ref, ca_tls_container_ref=body.ca_tls_container_ref,
        crl_container_ref=body.crl_container_ref,
        # TLS defaults only for pools that re-encrypt; others keep what was given (usually nothing).
        tls_ciphers=body.tls_ciphers or (tls.DEFAULT_CIPHERS if tls_on else None),
        tls_versions=_list(body.tls_versions, tls.DEFAULT_TLS_VERSIONS if tls_on else None),
        alpn_protocols=_list(body.alpn_protocols, tls.DEFAULT_ALPN_PROTOCOLS if tls_on else None))
    session.add(pool)
    session.flush()
    common.set_tags(session, pool.id, body.tags)
    if listener is not None:
        listener.default_pool_id = pool.id
    return pool


def _list(value: list[str] | None, default: tuple[str, ...] | None) -> list[str] | None:
    if value is not None:
        return list(value)
    return list(default) if default is not None else None


def create(svc: ApiServices, ctx: RequestContext, body: PoolPOST) -> dict[str, Any]:
    """Returns the wire form as committed (PENDING_CREATE), whatever the worker does next."""
    with svc.db.session() as session:
        listener: Listener | None = None
        if body.listener_id:
            listener = common.get_or_404(session, Listener, body.listener_id, "Listener")
            if body.loadbalancer_id and listener.load_balancer_id != body.loadbalancer_id:
                raise errors.NotFound("Listener", body.listener_id)
            lb_id = listener.load_balancer_id
        elif body.loadbalancer_id:
            lb_id = body.loadbalancer_id
        else:
            raise errors.ValidationFailure("Must provide at least one of: loadbalancer_id, listener_id")
        lb = common.get_or_404(session, LoadBalancer, lb_id, "Load Balancer", lock=True)
        if listener is not None:
            common.reread(session, listener, "Listener")
        svc.policy.authorize(ctx, "pool:post", lb.project_id)
        check_pool(svc, lb, body, listener)
        common.check_quota(session, svc.conf, ctx, lb.project_id, {"pool": 1})
        if listener is not None and listener.default_pool_id:
            raise errors.Conflict("This listener already has a default pool")
        common.require_active(lb, "Load Balancer")
        pool = new_pool(svc, ctx, session, lb, body, listener)
        job_id = common.stage_child(session, "pool.create", lb, pool, None, [listener] if listener is not None else [])
        wire = rendered_pool(session, pool)
    svc.dispatcher.dispatch(job_id)
    return wire


def _check_update(svc: ApiServices, lb: LoadBalancer, pool: Pool, changes: dict[str, Any]) -> None:
    if "lb_algorithm" in changes and changes["lb_algorithm"] is None:
        raise errors.InvalidOption(None, "lb_algorithm")
    if changes.get("session_persistence") is not None:
        merged = rules_pool.merge_session_persistence(pool.session_persistence, changes["session_persistence"])
        rules_pool.check_session_persistence(pool.protocol, merged)
        changes["session_persistence"] = merged
    rules_pool.check_ca_and_crl_update(pool.ca_tls_container_ref, pool.crl_container_ref, changes)
    _check_tls(svc, changes.get("tls_ciphers"), changes.get("tls_versions"), changes.get("alpn_protocols"))


def update(svc: ApiServices, ctx: RequestContext, pool_id: str, body: PoolPUT) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, mode="json")
    with svc.db.session() as session:
        pool, lb = load_for_change(session, pool_id)
        svc.policy.authorize(ctx, "pool:put", lb.project_id)
        _check_update(svc, lb, pool, changes)
        # Only refs the request names are resolved (with the stored CA when only the CRL changes).
        ca_changed = "ca_tls_container_ref" in changes or "crl_container_ref" in changes
        check_refs(svc, ctx, changes.get("tls_container_ref"),
                   changes.get("ca_tls_container_ref", pool.ca_tls_container_ref) if ca_changed else None,
                   changes.get("crl_container_ref", pool.crl_container_ref) if ca_changed else None)
        common.require_active(lb, "Load Balancer")
        if "lb_algorithm" in changes:
            rules_pool.check_algorithm(lb.provider, changes["lb_algorithm"])
        _apply(pool, changes)
        common.set_tags(session, pool.id, changes.get("tags"))
        job_id = common.stage_child(session, "pool.update", lb, pool, ProvisioningStatus.PENDING_UPDATE,
                                    affected_listeners(session, pool))
        wire = rendered_pool(session, pool)
    svc.dispatcher.dispatch(job_id)
    return wire


def _apply(pool: Pool, changes: dict[str, Any]) -> None:
    for field in ("name", "description", "lb_algorithm", "session_persistence", "tls_container_ref",
                  "ca_tls_container_ref", "crl_container_ref"):
        if field in changes:
            setattr(pool, field, changes[field])
    for field in ("admin_state_up", "tls_enabled"):
        if field in changes:
            setattr(pool, field, bool(changes[field]))
    # null resets the TLS settings to their defaults; turning TLS on fills in whatever is still unset.
    tls_on = bool(pool.tls_enabled)
    defaults: dict[str, Any] = {"tls_ciphers": tls.DEFAULT_CIPHERS,
                                "tls_versions": list(tls.DEFAULT_TLS_VERSIONS),
                                "alpn_protocols": list(tls.DEFAULT_ALPN_PROTOCOLS)}
    for field, default in defaults.items():
        if field in changes:
            setattr(pool, field, changes[field] if changes[field] is not None else default)
        elif tls_on and getattr(pool, field) is None:
            setattr(pool, field, default)


def delete(svc: ApiServices, ctx: RequestContext, pool_id: str) -> None:
    with svc.db.session() as session:
        pool, lb = load_for_change(session, pool_id)
        svc.policy.authorize(ctx, "pool:delete", lb.project_id)
        policy_id = session.scalars(select(L7Policy.id).where(L7Policy.redirect_pool_id == pool.id)
                                    .order_by(L7Policy.created_at)).first()
        if policy_id is not None:
            raise errors.Conflict(f"Pool {pool.id} is in use by L7 policy {policy_id}")
        common.require_active(lb, "Load Balancer")
        job_id = common.stage_child(session, "pool.delete", lb, pool, ProvisioningStatus.PENDING_DELETE,
                                    affected_listeners(session, pool))
    svc.dispatcher.dispatch(job_id)
