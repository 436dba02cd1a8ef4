"""Listener writes (§2.2, §3.1, §3.6–§3.9, §4): rules, quota and one transaction of rows plus a job.

`new_listener` validates a request and adds the row; it neither locks, nor writes a job, nor commits, so
the single-call LB create can use it for nested listeners. `create`/`update`/`delete` wrap it with the LB
lock, policy, quota, the PENDING_* marks and the job, and return the wire form rendered inside the
transaction (before the worker can move the statuses on).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.api.actions import certs, common
from ostia.api.context import RequestContext
from ostia.api.schemas import listener as schema
from ostia.api.schemas.listener import ListenerPOST
from ostia.api.services import ApiServices
from ostia.db.models import Listener, LoadBalancer, Pool, Subnet
from ostia.domain import errors, listeners, protocols, providers, tls
from ostia.domain.enums import ClientAuthentication, ListenerProtocol, OperatingStatus, ProvisioningStatus

P = ListenerProtocol
TLS_KEYS = ("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
            "client_crl_container_ref", "client_authentication")


def no_children(protocol: str) -> errors.BadRequest:
    return errors.BadRequest(f"Protocol {protocol} listeners cannot have child objects.")


def check_protocol_enabled(svc: ApiServices, protocol: str) -> None:
    settings = svc.conf.api_settings
    if (protocol == P.TERMINATED_HTTPS and not settings.allow_tls_terminated_listeners) or \
            (protocol == P.PROMETHEUS and not settings.allow_prometheus_listeners):
        raise errors.BadRequest(f"The selected protocol is not allowed in this deployment: {protocol}")


def default_pool(session: Session, lb: LoadBalancer, protocol: str, pool_id: str) -> Pool:
    """The pool a listener forwards to by default: on the same LB (else 404) and protocol-compatible (§3.1)."""
    if protocol in listeners.NO_CHILDREN:
        raise no_children(protocol)
    pool = session.get(Pool, pool_id)
    if pool is None or pool.load_balancer_id != lb.id:
        raise errors.NotFound("Pool", pool_id)
    protocols.check_pool_protocol(protocol, pool.protocol)
    return pool


def _check_port_free(session: Session, lb: LoadBalancer, protocol: str, port: int) -> None:
    others = session.scalars(select(Listener).where(Listener.load_balancer_id == lb.id,
                                                    Listener.protocol_port == port))
    for other in others:
        if listeners.same_port_family(other.protocol, protocol):
            raise errors.Conflict(f"Another Listener on this Load Balancer is already using protocol "
                                  f"{other.protocol} and protocol_port {port}")


def _vips(session: Session, lb: LoadBalancer) -> list[tuple[str, int]]:
    """The LB's VIP addresses with their IP versions; the VIP subnets' CIDRs while none is allocated yet."""
    addresses = [lb.vip_address, *(v.ip_address for v in lb.additional_vips)]
    known: list[tuple[str, int]] = [(a, ipaddress.ip_address(a).version) for a in addresses if a]
    if known:
        return known
    subnet_ids = [lb.vip_subnet_id, *(v.subnet_id for v in lb.additional_vips)]
    subnets = [session.get(Subnet, s) for s in subnet_ids if s]
    return [(s.cidr, s.ip_version) for s in subnets if s is not None]


def _check_cidrs(session: Session, lb: LoadBalancer, cidrs: list[str]) -> None:
    if cidrs:
        listeners.check_allowed_cidrs(cidrs, _vips(session, lb), bool(lb.vip_sg_ids))


def _check_tls_settings(svc: ApiServices, values: dict[str, Any]) -> None:
    settings = svc.conf.api_settings
    tls.check_ciphers(values.get("tls_ciphers"), settings.tls_cipher_prohibit_list)
    if "tls_versions" in values:
        tls.check_tls_versions(values["tls_versions"], settings.minimum_tls_version)
    if "alpn_protocols" in values:
        tls.check_alpn_protocols(values["alpn_protocols"])


def _tls_default(protocol: str, field: str) -> Any:
    """Ciphers/versions/ALPN a listener gets when it does not say: only TLS-terminating ones get any."""
    if protocol not in listeners.TLS_TERMINATING:
        return None
    return {"tls_ciphers": tls.DEFAULT_CIPHERS, "tls_versions": list(tls.DEFAULT_TLS_VERSIONS),
            "alpn_protocols": list(tls.DEFAULT_ALPN_PROTOCOLS)}[field]


def new_listener(svc: ApiServices, ctx: RequestContext, session: Session, lb: LoadBalancer,
                 body: ListenerPOST) -> Listener:
    """Validate `body` against the (already locked) LB and add the listener row as PENDING_CREATE."""
    protocol = str(body.protocol)
    check_protocol_enabled(svc, protocol)
    listeners.check_insert_headers(body.insert_headers, protocol)
    listeners.check_tls_refs(protocol, body.default_tls_container_ref, body.sni_container_refs,
                             body.client_ca_tls_container_ref, body.client_crl_container_ref,
                             body.client_authentication)
    _check_tls_settings(svc, body.model_dump(include={"tls_ciphers", "tls_versions", "alpn_protocols"}))
    listeners.check_hsts(protocol, body.hsts_max_age, body.hsts_include_subdomains, body.hsts_preload)
    certs.check_certificates(svc, ctx, [*(body.sni_container_refs or []), body.default_tls_container_ref])
    certs.check_ca_and_crl(svc, ctx, body.client_ca_tls_container_ref, body.client_crl_container_ref)
    if body.default_pool_id:
        default_pool(session, lb, protocol, body.default_pool_id)
    _check_port_free(session, lb, protocol, body.protocol_port)
    cidrs = tls.dedupe(body.allowed_cidrs or [])
    _check_cidrs(session, lb, cidrs)
    # Last, as Octavia asks the provider driver only once the request is valid.
    providers.check_protocol(lb.provider, protocol, "listeners")

    timeouts = {name: value if (value := getattr(body, name)) is not None else default
                for name, default in listeners.DEFAULT_TIMEOUTS.items()}
    tls_values = {name: value if (value := getattr(body, name)) is not None else _tls_default(protocol, name)
                  for name in ("tls_ciphers", "tls_versions", "alpn_protocols")}
    listener = Listener(
        project_id=lb.project_id, load_balancer_id=lb.id, name=body.name, description=body.description,
        admin_state_up=body.admin_state_up, protocol=protocol, protocol_port=body.protocol_port,
        connection_limit=body.connection_limit if body.connection_limit is not None
        else listeners.DEFAULT_CONNECTION_LIMIT,
        default_pool_id=body.default_pool_id, default_tls_container_ref=body.default_tls_container_ref,
        sni_container_refs=tls.dedupe(body.sni_container_refs or []),
        client_authentication=str(body.client_authentication or ClientAuthentication.NONE),
        client_ca_tls_container_ref=body.client_ca_tls_container_ref,
        client_crl_container_ref=body.client_crl_container_ref, insert_headers=dict(body.insert_headers or {}),
        allowed_cidrs=cidrs or None, hsts_max_age=body.hsts_max_age,
        hsts_include_subdomains=body.hsts_include_subdomains, hsts_preload=body.hsts_preload,
        provisioning_status=ProvisioningStatus.PENDING_CREATE, operating_status=OperatingStatus.OFFLINE,
        **timeouts, **tls_values)
    session.add(listener)
    session.flush()
    common.set_tags(session, listener.id, body.tags)
    return listener


def lock_tree(session: Session, lb_id: str) -> LoadBalancer:
    """Row-lock the LB (no status check yet: policy and validation errors come before the 409)."""
    return common.get_or_404(session, LoadBalancer, lb_id, "Load Balancer", lock=True)


def require_mutable(lb: LoadBalancer) -> None:
    common.require_active(lb, "Load Balancer")


def _rendered(session: Session, listener: Listener) -> dict[str, Any]:
    return common.rendered(session, listener, schema.to_wire, reload=["l7policies"])


def create(svc: ApiServices, ctx: RequestContext, body: ListenerPOST) -> tuple[str, dict[str, Any]]:
    with svc.db.session() as session:
        lb = lock_tree(session, body.loadbalancer_id)
        svc.policy.authorize(ctx, "listener:post", lb.project_id)
        check_protocol_enabled(svc, str(body.protocol))
        common.check_quota(session, svc.conf, ctx, lb.project_id, {"listener": 1})
        require_mutable(lb)
        listener = new_listener(svc, ctx, session, lb, body)
        job_id = common.stage_child(session, "listener.create", lb, listener, None)
        wire = _rendered(session, listener)
    svc.dispatcher.dispatch(job_id)
    return listener.id, wire


def _locked_listener(session: Session, listener_id: str) -> tuple[Listener, LoadBalancer]:
    listener = common.get_or_404(session, Listener, listener_id, "Listener")
    lb = lock_tree(session, listener.load_balancer_id)
    common.reread(session, listener, "Listener")
    return listener, lb


def _apply_update(svc: ApiServices, ctx: RequestContext, session: Session, lb: LoadBalancer, listener: Listener,
                  changes: dict[str, Any]) -> None:
    protocol = listener.protocol
    if "insert_headers" in changes:
        listeners.check_insert_headers(changes["insert_headers"], protocol)
    effective = {k: changes[k] if k in changes else getattr(listener, k) for k in TLS_KEYS}
    if any(k in changes for k in TLS_KEYS):
        listeners.check_tls_refs(protocol, effective["default_tls_container_ref"],
                                 effective["sni_container_refs"], effective["client_ca_tls_container_ref"],
                                 effective["client_crl_container_ref"], effective["client_authentication"])
    _check_tls_settings(svc, changes)
    listeners.check_hsts_update(protocol, listener.hsts_max_age, changes)
    # Only refs the request names are resolved: stored ones were checked when they were set.
    certs.check_certificates(svc, ctx, [*(changes.get("sni_container_refs") or []),
                                        changes.get("default_tls_container_ref")])
    if "client_ca_tls_container_ref" in changes or "client_crl_container_ref" in changes:
        certs.check_ca_and_crl(svc, ctx, effective["client_ca_tls_container_ref"],
                               effective["client_crl_container_ref"])
    if changes.get("default_pool_id"):
        default_pool(session, lb, protocol, changes["default_pool_id"])
    if "allowed_cidrs" in changes:
        changes["allowed_cidrs"] = tls.dedupe(changes["allowed_cidrs"] or []) or None
        _check_cidrs(session, lb, changes["allowed_cidrs"] or [])

    # An explicit null resets a field to its default (§1.3).
    defaults: dict[str, Any] = {
        "connection_limit": listeners.DEFAULT_CONNECTION_LIMIT, **listeners.DEFAULT_TIMEOUTS,
        "admin_state_up": False, "client_authentication": str(ClientAuthentication.NONE),
        "sni_container_refs": [], "insert_headers": {}, "hsts_include_subdomains": False, "hsts_preload": False,
        **{f: _tls_default(protocol, f) for f in ("tls_ciphers", "tls_versions", "alpn_protocols")},
    }
    for field, value in changes.items():
        if field == "tags":
            continue
        if value is None and field in defaults:
            value = defaults[field]
        if field == "sni_container_refs":
            value = tls.dedupe(value)
        elif field == "client_authentication":
            value = str(value)
        setattr(listener, field, value)
    common.set_tags(session, listener.id, changes.get("tags"))


def update(svc: ApiServices, ctx: RequestContext, listener_id: str, body: schema.ListenerPUT) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with svc.db.session() as session:
        listener, lb = _locked_listener(session, listener_id)
        svc.policy.authorize(ctx, "listener:put", lb.project_id)
        require_mutable(lb)
        _apply_update(svc, ctx, session, lb, listener, changes)
        job_id = common.stage_child(session, "listener.update", lb, listener, ProvisioningStatus.PENDING_UPDATE)
        wire = _rendered(session, listener)
    svc.dispatcher.dispatch(job_id)
    return wire


def delete(svc: ApiServices, ctx: RequestContext, listener_id: str) -> None:
    with svc.db.session() as session:
        listener, lb = _locked_listener(session, listener_id)
        svc.policy.authorize(ctx, "listener:delete", lb.project_id)
        require_mutable(lb)
        job_id = common.stage_child(session, "listener.delete", lb, listener, ProvisioningStatus.PENDING_DELETE)
    svc.dispatcher.dispatch(job_id)
