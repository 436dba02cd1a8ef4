"""L7 policy writes (§2.6, §3.1, §3.3, §4): rules, quota and one transaction of rows plus a job.

`new_l7policy` validates and adds a policy (and any rules given with it) under an already locked LB,
without job or commit, for the single-call LB create; `create`/`update`/`delete` add lock, policy, quota,
status marks and the job. Positions are kept as 1..n per listener: inserting at an occupied position
shifts the others down.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ostia.api.actions import common
from ostia.api.actions import l7rule as l7rule_actions
from ostia.api.actions.listener import lock_tree, no_children, require_mutable
from ostia.api.context import RequestContext
from ostia.api.schemas import l7policy as schema
from ostia.api.schemas.l7policy import L7PolicyPOST
from ostia.api.services import ApiServices
from ostia.db.models import L7Policy, Listener, LoadBalancer, Pool
from ostia.domain import errors, l7, listeners, protocols, providers
from ostia.domain.enums import ListenerProtocol, OperatingStatus, ProvisioningStatus

REDIRECT_KEYS = ("action", "redirect_pool_id", "redirect_url", "redirect_prefix", "redirect_http_code")
# The amphora driver renders L7 policies as HAProxy HTTP rules: other listener protocols cannot have them.
AMPHORA_L7_PROTOCOLS = (ListenerProtocol.HTTP, ListenerProtocol.TERMINATED_HTTPS)


def _check_listener(listener: Listener) -> None:
    if listener.protocol in listeners.NO_CHILDREN:
        raise no_children(listener.protocol)


def _check_provider(lb: LoadBalancer, listener: Listener) -> None:
    provider = lb.provider or providers.AMPHORA
    if providers.canonical(provider) == providers.AMPHORA and listener.protocol not in AMPHORA_L7_PROTOCOLS:
        raise errors.ProviderNotSupported(provider, f"{listener.protocol} protocol listeners do not support L7 "
                                                    f"policies")


def redirect_pool(session: Session, lb: LoadBalancer, listener: Listener, pool_id: str) -> Pool:
    """A redirect target: a pool on the listener's LB (else 404) the listener can forward to (§3.1)."""
    pool = session.get(Pool, pool_id)
    if pool is None or pool.load_balancer_id != lb.id:
        raise errors.NotFound("Pool", pool_id)
    protocols.check_pool_protocol(listener.protocol, pool.protocol)
    return pool


def _validated(session: Session, lb: LoadBalancer, listener: Listener, body: L7PolicyPOST) -> dict[str, Any]:
    _check_listener(listener)
    if body.redirect_pool_id:
        redirect_pool(session, lb, listener, body.redirect_pool_id)
    fields = l7.sanitize_policy({k: getattr(body, k) for k in REDIRECT_KEYS}, create=True)
    for rule in body.rules or []:
        l7.check_rule(rule.type, rule.compare_type, rule.key, rule.value)
    return fields


def _ordered(session: Session, listener_id: str) -> list[L7Policy]:
    return list(session.scalars(select(L7Policy).where(L7Policy.listener_id == listener_id)
                                .order_by(L7Policy.position, L7Policy.created_at, L7Policy.id)))


def _place(session: Session, listener_id: str, policy: L7Policy, position: int) -> None:
    """Move `policy` to `position` among its listener's policies and renumber them 1..n."""
    rows = {p.id: p for p in _ordered(session, listener_id)}
    rows[policy.id] = policy
    for index, ident in enumerate(l7.reposition(list(rows), policy.id, position), start=1):
        if rows[ident].position != index:
            rows[ident].position = index


def new_l7policy(svc: ApiServices, ctx: RequestContext, session: Session, listener: Listener,
                 body: L7PolicyPOST) -> L7Policy:
    """Validate `body` for `listener` (its LB already locked) and add the policy row as PENDING_CREATE."""
    lb = listener.load_balancer
    fields = _validated(session, lb, listener, body)
    _check_provider(lb, listener)
    position = body.position if body.position is not None else l7.MAX_POSITION
    policy = L7Policy(
        project_id=lb.project_id, listener_id=listener.id, name=body.name, description=body.description,
        admin_state_up=body.admin_state_up, action=str(fields["action"]),
        redirect_pool_id=fields.get("redirect_pool_id"), redirect_url=fields.get("redirect_url"),
        redirect_prefix=fields.get("redirect_prefix"), redirect_http_code=fields.get("redirect_http_code"),
        position=l7.MAX_POSITION, provisioning_status=ProvisioningStatus.PENDING_CREATE,
        operating_status=OperatingStatus.OFFLINE)
    session.add(policy)
    session.flush()
    _place(session, listener.id, policy, position)
    common.set_tags(session, policy.id, body.tags)
    for rule in body.rules or []:
        l7rule_actions.new_l7rule(svc, ctx, session, policy, rule)
    session.flush()
    return policy


def _rendered(session: Session, policy: L7Policy) -> dict[str, Any]:
    return common.rendered(session, policy, schema.to_wire, reload=["rules"])


def create(svc: ApiServices, ctx: RequestContext, body: L7PolicyPOST) -> tuple[str, dict[str, Any]]:
    with svc.db.session() as session:
        listener = common.get_or_404(session, Listener, body.listener_id, "Listener")
        lb = lock_tree(session, listener.load_balancer_id)
        common.reread(session, listener, "Listener")
        svc.policy.authorize(ctx, "l7policy:post", lb.project_id)
        _validated(session, lb, listener, body)
        common.check_quota(session, svc.conf, ctx, lb.project_id,
                           {"l7policy": 1, "l7rule": len(body.rules or [])})
        require_mutable(lb)
        policy = new_l7policy(svc, ctx, session, listener, body)
        job_id = common.stage_child(session, "l7policy.create", lb, policy, None, [listener])
        wire = _rendered(session, policy)
    svc.dispatcher.dispatch(job_id)
    return policy.id, wire


def locked_policy(session: Session, policy_id: str) -> tuple[L7Policy, Listener, LoadBalancer]:
    """The policy, its listener and its row-locked LB, read under that lock."""
    policy = common.get_or_404(session, L7Policy, policy_id, "L7 Policy")
    listener = common.get_or_404(session, Listener, policy.listener_id, "Listener")  # 404 if a cascade won
    lb = lock_tree(session, listener.load_balancer_id)
    common.reread(session, policy, "L7 Policy")
    common.reread(session, listener, "Listener")
    return policy, listener, lb


def update(svc: ApiServices, ctx: RequestContext, policy_id: str, body: schema.L7PolicyPUT) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with svc.db.session() as session:
        policy, listener, lb = locked_policy(session, policy_id)
        svc.policy.authorize(ctx, "l7policy:put", lb.project_id)
        fields = l7.sanitize_policy(changes, create=False)
        if fields.get("redirect_pool_id"):
            redirect_pool(session, lb, listener, fields["redirect_pool_id"])
        require_mutable(lb)
        if fields.get("action"):  # the (possibly implied) action drops the redirect fields it never uses
            fields.update(dict.fromkeys(l7.UNUSED_BY_ACTION[fields["action"]]))
        for key in ("name", "description", *REDIRECT_KEYS):
            if key in fields:
                setattr(policy, key, str(fields[key]) if key == "action" else fields[key])
        if "admin_state_up" in fields:
            policy.admin_state_up = bool(fields["admin_state_up"])
        if fields.get("position") is not None and fields["position"] != policy.position:
            _place(session, listener.id, policy, fields["position"])
        common.set_tags(session, policy.id, changes.get("tags"))
        job_id = common.stage_child(session, "l7policy.update", lb, policy, ProvisioningStatus.PENDING_UPDATE,
                                    [listener])
        wire = _rendered(session, policy)
    svc.dispatcher.dispatch(job_id)
    return wire


def delete(svc: ApiServices, ctx: RequestContext, policy_id: str) -> None:
    with svc.db.session() as session:
        policy, listener, lb = locked_policy(session, policy_id)
        svc.policy.authorize(ctx, "l7policy:delete", lb.project_id)
        require_mutable(lb)
        job_id = common.stage_child(session, "l7policy.delete", lb, policy, ProvisioningStatus.PENDING_DELETE,
                                    [listener])
    svc.dispatcher.dispatch(job_id)
