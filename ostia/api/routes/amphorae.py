"""/v2/octavia/amphorae (§2.9): admin only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api.actions import amphora as actions
from ostia.api.query import Listing
from ostia.api.routes._crud import shown
from ostia.api.routes.deps import context, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import amphora as schema
from ostia.db.models import Amphora, LoadBalancer
from ostia.domain.enums import AmphoraStatus

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="amphorae",
    columns={**{name: getattr(Amphora, name) for name in (
        "id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip", "vrrp_port_id", "ha_port_id", "cert_expiration",
        "cert_busy", "role", "status", "vrrp_interface", "vrrp_id", "vrrp_priority", "cached_zone", "created_at",
        "updated_at", "image_id", "compute_flavor")},
        "loadbalancer_id": Amphora.load_balancer_id,
        "project_id": LoadBalancer.project_id},  # through the owning load balancer
    id_column=Amphora.id, created_column=Amphora.created_at, taggable=False, to_wire=schema.to_wire)


@router.get("/octavia/amphorae")
def list_amphorae(request: Request) -> Any:
    stmt = (select(Amphora).outerjoin(LoadBalancer, Amphora.load_balancer_id == LoadBalancer.id)
            .where(Amphora.status != AmphoraStatus.DELETED))
    # No project scoping: the policy is admin-only and project_id is an ordinary filter here.
    return list_resource(request, stmt, LISTING, "amphora", None)


@router.get("/octavia/amphorae/{amphora_id}")
def get_amphora(request: Request, amphora_id: str) -> dict[str, Any]:
    svc, ctx = services(request), context(request)
    with svc.db.session() as session:
        amp = actions.get_visible(session, amphora_id)
        svc.policy.authorize(ctx, "amphora:get_one", ctx.project_id)
        return shown(request, "amphora", schema.to_wire(amp))


@router.delete("/octavia/amphorae/{amphora_id}", status_code=204)
def delete_amphora(request: Request, amphora_id: str) -> Response:
    actions.delete(services(request), context(request), amphora_id)
    return Response(status_code=204)


@router.get("/octavia/amphorae/{amphora_id}/stats")
def amphora_stats(request: Request, amphora_id: str) -> dict[str, Any]:
    rows = actions.stats(services(request), context(request), amphora_id)
    return {"amphora_stats": [schema.stats_wire(amp, row) for amp, row in rows]}


# An empty 202, as in Octavia (response_class: the document promises no JSON body).
@router.put("/octavia/amphorae/{amphora_id}/config", status_code=202, response_class=Response)
def configure_amphora(request: Request, amphora_id: str) -> Response:
    actions.configure(services(request), context(request), amphora_id)
    return Response(status_code=202)


# An empty 202, as in Octavia (response_class: the document promises no JSON body).
@router.put("/octavia/amphorae/{amphora_id}/failover", status_code=202, response_class=Response)
def failover_amphora(request: Request, amphora_id: str) -> Response:
    actions.failover(services(request), context(request), amphora_id)
    return Response(status_code=202)
