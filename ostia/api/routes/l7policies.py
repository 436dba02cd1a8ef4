"""/v2/lbaas/l7policies (§2.6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ostia.api.actions import l7policy as actions
from ostia.api.query import Listing
from ostia.api.routes._crud import get_owned
from ostia.api.routes.deps import context, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import l7policy as schema
from ostia.db.models import L7Policy, L7Rule

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="l7policies",
    columns={name: getattr(L7Policy, name) for name in (
        "id", "name", "description", "project_id", "provisioning_status", "operating_status", "admin_state_up",
        "listener_id", "action", "redirect_pool_id", "redirect_url", "redirect_prefix", "redirect_http_code",
        "position", "created_at", "updated_at")},
    id_column=L7Policy.id, created_column=L7Policy.created_at, to_wire=schema.to_wire,
    default_sort=(("position", "asc"),))


@router.get("/lbaas/l7policies")
def list_l7policies(request: Request) -> Any:
    stmt = select(L7Policy).options(selectinload(L7Policy.rules).load_only(L7Rule.id))
    return list_resource(request, stmt, LISTING, "l7policy", L7Policy.project_id)


@router.post("/lbaas/l7policies", status_code=201)
def create_l7policy(request: Request, body: schema.L7PolicyPOSTBody) -> dict[str, Any]:
    _, wire = actions.create(services(request), context(request), body.l7policy)
    return {"l7policy": wire}


@router.get("/lbaas/l7policies/{policy_id}")
def get_l7policy(request: Request, policy_id: str) -> dict[str, Any]:
    return get_owned(request, L7Policy, policy_id, "L7 Policy", "l7policy:get_one", "l7policy", schema.to_wire)


@router.put("/lbaas/l7policies/{policy_id}")
def update_l7policy(request: Request, policy_id: str, body: schema.L7PolicyPUTBody) -> dict[str, Any]:
    return {"l7policy": actions.update(services(request), context(request), policy_id, body.l7policy)}


@router.delete("/lbaas/l7policies/{policy_id}", status_code=204)
def delete_l7policy(request: Request, policy_id: str) -> Response:
    actions.delete(services(request), context(request), policy_id)
    return Response(status_code=204)
