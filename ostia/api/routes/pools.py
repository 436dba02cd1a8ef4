"""/v2/lbaas/pools (§2.3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api.actions import pool as actions
from ostia.api.query import Listing
from ostia.api.routes._crud import shown
from ostia.api.routes.deps import context, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import pool as schema
from ostia.db.models import Pool
from ostia.domain import errors

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="pools",
    columns={**{name: getattr(Pool, name) for name in (
        "id", "name", "description", "project_id", "provisioning_status", "operating_status", "admin_state_up",
        "protocol", "lb_algorithm", "tls_enabled", "tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
        "tls_ciphers", "created_at", "updated_at")}, "loadbalancer_id": Pool.load_balancer_id},
    id_column=Pool.id, created_column=Pool.created_at, to_wire=schema.to_wire)


@router.get("/lbaas/pools")
def list_pools(request: Request) -> dict[str, Any]:
    return list_resource(request, select(Pool).options(*schema.WIRE_OPTIONS), LISTING, "pool", Pool.project_id)


@router.post("/lbaas/pools", status_code=201)
def create_pool(request: Request, body: schema.PoolPOSTBody) -> dict[str, Any]:
    return {"pool": actions.create(services(request), context(request), body.pool)}


@router.get("/lbaas/pools/{pool_id}")
def get_pool(request: Request, pool_id: str) -> dict[str, Any]:
    svc = services(request)
    with svc.db.session() as session:
        # Like the list: children by id only (a pool may have thousands of members).
        pool = session.scalars(select(Pool).options(*schema.WIRE_OPTIONS).where(Pool.id == pool_id)).first()
        if pool is None:
            raise errors.NotFound("Pool", pool_id)
        svc.policy.authorize(context(request), "pool:get_one", pool.project_id)
        return shown(request, "pool", schema.to_wire(pool))


@router.put("/lbaas/pools/{pool_id}")
def update_pool(request: Request, pool_id: str, body: schema.PoolPUTBody) -> dict[str, Any]:
    return {"pool": actions.update(services(request), context(request), pool_id, body.pool)}


@router.delete("/lbaas/pools/{pool_id}", status_code=204)
def delete_pool(request: Request, pool_id: str) -> Response:
    actions.delete(services(request), context(request), pool_id)
    return Response(status_code=204)
