"""/v2/lbaas/listeners (§2.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ostia.api.actions import listener as actions
from ostia.api.actions.load_balancer import stats_for_listeners
from ostia.api.query import Listing
from ostia.api.routes._crud import get_owned
from ostia.api.routes.deps import context, fetch, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import listener as schema
from ostia.db.models import L7Policy, Listener

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="listeners",
    columns={"loadbalancer_id": Listener.load_balancer_id, **{name: getattr(Listener, name) for name in (
        "id", "name", "description", "project_id", "provisioning_status", "operating_status", "admin_state_up",
        "protocol", "protocol_port", "connection_limit", "default_pool_id", "default_tls_container_ref",
        "client_authentication", "client_ca_tls_container_ref", "client_crl_container_ref",
        "timeout_client_data", "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect",
        "tls_ciphers", "hsts_max_age", "hsts_include_subdomains", "hsts_preload", "created_at", "updated_at")}},
    id_column=Listener.id, created_column=Listener.created_at, to_wire=schema.to_wire)


@router.get("/lbaas/listeners")
def list_listeners(request: Request) -> Any:
    stmt = select(Listener).options(selectinload(Listener.l7policies).load_only(L7Policy.id))
    return list_resource(request, stmt, LISTING, "listener", Listener.project_id)


@router.post("/lbaas/listeners", status_code=201)
def create_listener(request: Request, body: schema.ListenerPOSTBody) -> dict[str, Any]:
    _, wire = actions.create(services(request), context(request), body.listener)
    return {"listener": wire}


@router.get("/lbaas/listeners/{listener_id}")
def get_listener(request: Request, listener_id: str) -> dict[str, Any]:
    return get_owned(request, Listener, listener_id, "Listener", "listener:get_one", "listener", schema.to_wire)


@router.put("/lbaas/listeners/{listener_id}")
def update_listener(request: Request, listener_id: str, body: schema.ListenerPUTBody) -> dict[str, Any]:
    return {"listener": actions.update(services(request), context(request), listener_id, body.listener)}


@router.delete("/lbaas/listeners/{listener_id}", status_code=204)
def delete_listener(request: Request, listener_id: str) -> Response:
    actions.delete(services(request), context(request), listener_id)
    return Response(status_code=204)


@router.get("/lbaas/listeners/{listener_id}/stats")
def listener_stats(request: Request, listener_id: str) -> dict[str, Any]:
    with fetch(request, Listener, listener_id, "Listener", "listener:get_stats") as (session, listener):
        return {"stats": stats_for_listeners(session, [listener.id])}
