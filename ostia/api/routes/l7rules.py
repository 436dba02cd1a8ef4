"""/v2/lbaas/l7policies/{policy_id}/rules (§2.7): root keys `rule` / `rules`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api.actions import l7rule as actions
from ostia.api.actions.common import get_or_404
from ostia.api.query import Listing
from ostia.api.routes._crud import list_children, shown
from ostia.api.routes.deps import context, routed_parent, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import l7rule as schema
from ostia.db.models import L7Policy, L7Rule

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="rules",
    columns={name: getattr(L7Rule, name) for name in (
        "id", "project_id", "provisioning_status", "operating_status", "admin_state_up", "type", "compare_type",
        "key", "value", "invert", "created_at", "updated_at")},
    id_column=L7Rule.id, created_column=L7Rule.created_at, to_wire=schema.to_wire)

RULES = "/lbaas/l7policies/{policy_id}/rules"


def _parent_policy(request: Request, policy_id: str) -> None:
    routed_parent(request, L7Policy, policy_id, actions.POLICY_LABEL)


@router.get(RULES)
def list_rules(request: Request, policy_id: str) -> Any:
    _parent_policy(request, policy_id)
    svc, ctx = services(request), context(request)
    with svc.db.session() as session:
        policy = get_or_404(session, L7Policy, policy_id, actions.POLICY_LABEL)
        svc.policy.authorize(ctx, "l7rule:get_all", policy.project_id)
        return list_children(request, session, select(L7Rule).where(L7Rule.l7policy_id == policy.id), LISTING)


@router.post(RULES, status_code=201)
def create_rule(request: Request, policy_id: str, body: schema.L7RulePOSTBody) -> dict[str, Any]:
    _parent_policy(request, policy_id)
    _, wire = actions.create(services(request), context(request), policy_id, body.rule)
    return {"rule": wire}


@router.get(RULES + "/{rule_id}")
def get_rule(request: Request, policy_id: str, rule_id: str) -> dict[str, Any]:
    _parent_policy(request, policy_id)
    svc, ctx = services(request), context(request)
    with svc.db.session() as session:
        policy = get_or_404(session, L7Policy, policy_id, actions.POLICY_LABEL)
        rule = actions.rule_of(session, policy, rule_id)
        svc.policy.authorize(ctx, "l7rule:get_one", policy.project_id)
        return shown(request, "rule", schema.to_wire(rule))


@router.put(RULES + "/{rule_id}")
def update_rule(request: Request, policy_id: str, rule_id: str, body: schema.L7RulePUTBody) -> dict[str, Any]:
    _parent_policy(request, policy_id)
    return {"rule": actions.update(services(request), context(request), policy_id, rule_id, body.rule)}


@router.delete(RULES + "/{rule_id}", status_code=204)
def delete_rule(request: Request, policy_id: str, rule_id: str) -> Response:
    _parent_policy(request, policy_id)
    actions.delete(services(request), context(request), policy_id, rule_id)
    return Response(status_code=204)
