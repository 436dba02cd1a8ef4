"""L7 rule writes (§2.7, §3.4, §4): rules, quota and one transaction of rows plus a job.

Rules live under a policy: every change marks the rule, its policy, the policy's listener and the LB, and
needs both the policy and the LB ACTIVE. `new_l7rule` is the lock-free, job-free part shared with policy
creation and the single-call LB create.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.api.actions import common
from ostia.api.actions.listener import lock_tree, require_mutable
from ostia.api.context import RequestContext
from ostia.api.schemas import l7rule as schema
from ostia.api.schemas.l7rule import L7RulePOST
from ostia.api.services import ApiServices
from ostia.db.models import L7Policy, L7Rule, Listener, LoadBalancer
from ostia.domain import errors, l7
from ostia.domain.enums import OperatingStatus, ProvisioningStatus

# What a missing policy in the URL is called (Octavia's route lookup spells it without the space).
POLICY_LABEL = "L7Policy"


def check_room(session: Session, policy: L7Policy) -> None:
    count = session.scalar(select(func.count()).select_from(L7Rule).where(L7Rule.l7policy_id == policy.id))
    if int(count or 0) >= l7.MAX_RULES_PER_POLICY:
        raise errors.Conflict(f"Too many rules on L7 policy {policy.id}")


def new_l7rule(svc: ApiServices, ctx: RequestContext, session: Session, policy: L7Policy,
               body: L7RulePOST) -> L7Rule:
    """Validate `body` and add the rule to `policy` (LB already locked) as PENDING_CREATE."""
    l7.check_rule(body.type, body.compare_type, body.key, body.value)
    check_room(session, policy)
    rule = L7Rule(project_id=policy.project_id, l7policy_id=policy.id, type=str(body.type),
                  compare_type=str(body.compare_type), key=body.key, value=body.value, invert=body.invert,
                  admin_state_up=body.admin_state_up, provisioning_status=ProvisioningStatus.PENDING_CREATE,
                  operating_status=OperatingStatus.OFFLINE)
    session.add(rule)
    session.flush()
    common.set_tags(session, rule.id, body.tags)
    return rule


def locked_policy(session: Session, policy_id: str) -> tuple[L7Policy, Listener, LoadBalancer]:
    policy = common.get_or_404(session, L7Policy, policy_id, POLICY_LABEL)
    listener = common.get_or_404(session, Listener, policy.listener_id, "Listener")  # 404 if a cascade won
    lb = lock_tree(session, listener.load_balancer_id)
    common.reread(session, policy, POLICY_LABEL)
    common.reread(session, listener, "Listener")
    return policy, listener, lb


def rule_of(session: Session, policy: L7Policy, rule_id: str) -> L7Rule:
    """The rule, reached through its own policy only (another policy's id in the URL is a 404)."""
    rule = common.get_or_404(session, L7Rule, rule_id, "L7 Rule")
    if rule.l7policy_id != policy.id:
        raise errors.NotFound("L7 Rule", rule_id)
    return rule


def _require_mutable(policy: L7Policy, lb: LoadBalancer) -> None:
    common.require_active(policy, "L7Policy")
    require_mutable(lb)


def _rendered(session: Session, rule: L7Rule) -> dict[str, Any]:
    return common.rendered(session, rule, schema.to_wire)


def create(svc: ApiServices, ctx: RequestContext, policy_id: str, body: L7RulePOST) -> tuple[str, dict[str, Any]]:
    with svc.db.session() as session:
        policy, listener, lb = locked_policy(session, policy_id)
        svc.policy.authorize(ctx, "l7rule:post", lb.project_id)
        l7.check_rule(body.type, body.compare_type, body.key, body.value)
        check_room(session, policy)
        common.check_quota(session, svc.conf, ctx, lb.project_id, {"l7rule": 1})
        _require_mutable(policy, lb)
        rule = new_l7rule(svc, ctx, session, policy, body)
        job_id = common.stage_child(session, "l7rule.create", lb, rule, None, [policy, listener])
        wire = _rendered(session, rule)
    svc.dispatcher.dispatch(job_id)
    return rule.id, wire


def update(svc: ApiServices, ctx: RequestContext, policy_id: str, rule_id: str,
           body: schema.L7RulePUT) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with svc.db.session() as session:
        policy, listener, lb = locked_policy(session, policy_id)
        rule = rule_of(session, policy, rule_id)
        svc.policy.authorize(ctx, "l7rule:put", lb.project_id)
        merged = {k: changes[k] if k in changes else getattr(rule, k) for k in ("type", "compare_type", "key",
                                                                               "value")}
        l7.check_rule(merged["type"], merged["compare_type"], merged["key"], merged["value"])
        _require_mutable(policy, lb)
        for field in ("type", "compare_type"):
            if field in changes:
                setattr(rule, field, str(changes[field]))
        for field in ("key", "value"):
            if field in changes:
                setattr(rule, field, changes[field])
        for field in ("invert", "admin_state_up"):  # null means false
            if field in changes:
                setattr(rule, field, bool(changes[field]))
        common.set_tags(session, rule.id, changes.get("tags"))
        job_id = common.stage_child(session, "l7rule.update", lb, rule, ProvisioningStatus.PENDING_UPDATE,
                                    [policy, listener])
        wire = _rendered(session, rule)
    svc.dispatcher.dispatch(job_id)
    return wire


def delete(svc: ApiServices, ctx: RequestContext, policy_id: str, rule_id: str) -> None:
    with svc.db.session() as session:
        policy, listener, lb = locked_policy(session, policy_id)
        rule = rule_of(session, policy, rule_id)
        svc.policy.authorize(ctx, "l7rule:delete", lb.project_id)
        _require_mutable(policy, lb)
        job_id = common.stage_child(session, "l7rule.delete", lb, rule, ProvisioningStatus.PENDING_DELETE,
                                    [policy, listener])
    svc.dispatcher.dispatch(job_id)
