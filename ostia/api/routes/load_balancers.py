"""/v2/lbaas/loadbalancers (§2.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ostia.api.actions import load_balancer as actions
from ostia.api.query import Listing
from ostia.api.routes._crud import get_owned, stored
from ostia.api.routes.deps import context, fetch, flag, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import load_balancer as schema
from ostia.db.models import Listener, LoadBalancer, Pool
from ostia.domain.enums import ProvisioningStatus

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="loadbalancers",
    columns={name: getattr(LoadBalancer, name) for name in (
        "id", "name", "description", "project_id", "provisioning_status", "operating_status", "admin_state_up",
        "vip_address", "vip_port_id", "vip_subnet_id", "vip_network_id", "vip_qos_policy_id", "provider",
        "flavor_id", "availability_zone", "created_at", "updated_at", "vip_vnic_type")},
    id_column=LoadBalancer.id, created_column=LoadBalancer.created_at, to_wire=schema.to_wire)


@router.get("/lbaas/loadbalancers")
def list_load_balancers(request: Request) -> dict[str, Any]:
    stmt = (select(LoadBalancer).where(LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)
            .options(selectinload(LoadBalancer.listeners).load_only(Listener.id),
                     selectinload(LoadBalancer.pools).load_only(Pool.id)))
    return list_resource(request, stmt, LISTING, "loadbalancer", LoadBalancer.project_id)


@router.post("/lbaas/loadbalancers", status_code=201)
def create_load_balancer(request: Request, body: schema.LoadBalancerPOSTBody) -> dict[str, Any]:
    return {"loadbalancer": actions.create(services(request), context(request), body.loadbalancer)}


@router.get("/lbaas/loadbalancers/{lb_id}")
def get_load_balancer(request: Request, lb_id: str) -> dict[str, Any]:
    return get_owned(request, LoadBalancer, lb_id, "Load Balancer", "loadbalancer:get_one", "loadbalancer",
                     schema.to_wire)


@router.put("/lbaas/loadbalancers/{lb_id}")
def update_load_balancer(request: Request, lb_id: str, body: schema.LoadBalancerPUTBody) -> dict[str, Any]:
    actions.update(services(request), context(request), lb_id, body.loadbalancer)
    return stored(request, LoadBalancer, lb_id, "loadbalancer", schema.to_wire)


@router.delete("/lbaas/loadbalancers/{lb_id}", status_code=204)
def delete_load_balancer(request: Request, lb_id: str) -> Response:
    actions.delete(services(request), context(request), lb_id, flag(request, "cascade"))
    return Response(status_code=204)


@router.get("/lbaas/loadbalancers/{lb_id}/stats")
def load_balancer_stats(request: Request, lb_id: str) -> dict[str, Any]:
    with fetch(request, LoadBalancer, lb_id, "Load Balancer", "loadbalancer:get_stats") as (session, lb):
        return {"stats": actions.stats(session, lb)}


@router.get("/lbaas/loadbalancers/{lb_id}/status")
@router.get("/lbaas/loadbalancers/{lb_id}/statuses")
def load_balancer_status(request: Request, lb_id: str) -> dict[str, Any]:
    with fetch(request, LoadBalancer, lb_id, "Load Balancer", "loadbalancer:get_status") as (_, lb):
        return actions.status_tree(lb)


# An empty 202, as in Octavia (response_class: the document promises no JSON body).
@router.put("/lbaas/loadbalancers/{lb_id}/failover", status_code=202, response_class=Response)
def failover_load_balancer(request: Request, lb_id: str) -> Response:
    actions.failover(services(request), context(request), lb_id)
    return Response(status_code=202)
