"""/v2/lbaas/healthmonitors (§2.5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from ostia.api.actions import health_monitor as actions
from ostia.api.query import Listing
from ostia.api.routes._crud import get_owned
from ostia.api.routes.deps import context, list_resource, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import health_monitor as schema
from ostia.db.models import HealthMonitor

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="healthmonitors",
    columns={name: getattr(HealthMonitor, name) for name in (
        "id", "name", "project_id", "provisioning_status", "operating_status", "admin_state_up", "type", "delay",
        "timeout", "max_retries", "max_retries_down", "http_method", "url_path", "expected_codes", "http_version",
        "domain_name", "pool_id", "created_at", "updated_at")},
    id_column=HealthMonitor.id, created_column=HealthMonitor.created_at, to_wire=schema.to_wire)


@router.get("/lbaas/healthmonitors")
def list_health_monitors(request: Request) -> Any:
    return list_resource(request, select(HealthMonitor), LISTING, "healthmonitor", HealthMonitor.project_id)


@router.post("/lbaas/healthmonitors", status_code=201)
def create_health_monitor(request: Request, body: schema.HealthMonitorPOSTBody) -> dict[str, Any]:
    return {"healthmonitor": actions.create(services(request), context(request), body.healthmonitor)}


@router.get("/lbaas/healthmonitors/{hm_id}")
def get_health_monitor(request: Request, hm_id: str) -> dict[str, Any]:
    return get_owned(request, HealthMonitor, hm_id, "Health Monitor", "healthmonitor:get_one", "healthmonitor",
                     schema.to_wire)


@router.put("/lbaas/healthmonitors/{hm_id}")
def update_health_monitor(request: Request, hm_id: str, body: schema.HealthMonitorPUTBody) -> dict[str, Any]:
    return {"healthmonitor": actions.update(services(request), context(request), hm_id, body.healthmonitor)}


@router.delete("/lbaas/healthmonitors/{hm_id}", status_code=204)
def delete_health_monitor(request: Request, hm_id: str) -> Response:
    actions.delete(services(request), context(request), hm_id)
    return Response(status_code=204)
