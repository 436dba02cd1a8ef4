"""/v2/lbaas/pools/{pool_id}/members (§2.4), including the batch update (PUT on the collection)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api.actions import member as actions
from ostia.api.query import Listing
from ostia.api.routes._crud import list_children, shown
from ostia.api.routes.deps import context, flag, routed_parent, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import member as schema
from ostia.db.models import Member, Pool

router = APIRouter(route_class=RetryingRoute)
PATH = "/lbaas/pools/{pool_id}/members"

LISTING = Listing(
    collection="members",
    columns={name: getattr(Member, name) for name in (
        "id", "name", "project_id", "provisioning_status", "operating_status", "admin_state_up", "address",
        "protocol_port", "weight", "backup", "subnet_id", "monitor_address", "monitor_port", "vnic_type",
        "created_at", "updated_at")},
    id_column=Member.id, created_column=Member.created_at, to_wire=schema.to_wire)


def _parent_pool(request: Request, pool_id: str) -> Pool:
    return routed_parent(request, Pool, pool_id, "Pool")


@router.get(PATH)
def list_members(request: Request, pool_id: str) -> Any:
    svc, ctx = services(request), context(request)
    pool = _parent_pool(request, pool_id)
    svc.policy.authorize(ctx, "member:get_all", pool.project_id)  # the pool's project, not the caller's
    with svc.db.session() as session:
        return list_children(request, session, select(Member).where(Member.pool_id == pool_id), LISTING)


@router.post(PATH, status_code=201)
def create_member(request: Request, pool_id: str, body: schema.MemberPOSTBody) -> dict[str, Any]:
    _parent_pool(request, pool_id)
    return {"member": actions.create(services(request), context(request), pool_id, body.member)}


# An empty 202, as in Octavia (response_class: the document promises no JSON body).
@router.put(PATH, status_code=202, response_class=Response)
def batch_update_members(request: Request, pool_id: str, body: schema.MembersBatchBody) -> Response:
    _parent_pool(request, pool_id)
    actions.batch_update(services(request), context(request), pool_id, body.members, flag(request, "additive_only"))
    return Response(status_code=202)


@router.get(PATH + "/{member_id}")
def get_member(request: Request, pool_id: str, member_id: str) -> dict[str, Any]:
    svc, ctx = services(request), context(request)
    _parent_pool(request, pool_id)
    with svc.db.session() as session:
        member = actions.member_in_pool(session, pool_id, member_id)
        svc.policy.authorize(ctx, "member:get_one", member.project_id)
        return shown(request, "member", schema.to_wire(member))


@router.put(PATH + "/{member_id}")
def update_member(request: Request, pool_id: str, member_id: str, body: schema.MemberPUTBody) -> dict[str, Any]:
    _parent_pool(request, pool_id)
    return {"member": actions.update(services(request), context(request), pool_id, member_id, body.member)}


@router.delete(PATH + "/{member_id}", status_code=204)
def delete_member(request: Request, pool_id: str, member_id: str) -> Response:
    _parent_pool(request, pool_id)
    actions.delete(services(request), context(request), pool_id, member_id)
    return Response(status_code=204)
