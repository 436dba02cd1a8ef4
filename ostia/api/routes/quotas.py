"""/v2/lbaas/quotas (§2.8, §6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ostia.api.actions import quota as actions
from ostia.api.query import Listing, list_page
from ostia.api.routes.deps import base_url, context, query_params, services
from ostia.api.routes.retrying import RetryingRoute
from ostia.api.schemas import quota as schema
from ostia.db.models import Quota

router = APIRouter(route_class=RetryingRoute)

LISTING = Listing(
    collection="quotas",
    columns={"project_id": Quota.project_id,
             **{field: getattr(Quota, field) for field in
                ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")},
             **{wire: getattr(Quota, field) for wire, field in schema.ALIASES.items()}},
    id_column=Quota.project_id, created_column=None, taggable=False, id_attr="project_id",
    to_wire=lambda row: schema.to_wire(row.project_id, actions.raw(row)))

DEFAULTS_PROJECT = "defaults"


@router.get("/lbaas/quotas")
def list_quotas(request: Request) -> Any:
    """Projects that have a quota record, with raw values (null = the deployment default)."""
    svc, ctx = services(request), context(request)
    params = query_params(request)
    asked = params.pop("project_id", []) + params.pop("tenant_id", [])  # tenant_id: alias (§1.3)
    scope = actions.list_scope(svc, ctx, asked[0] if asked else None)
    stmt = select(Quota)
    if scope is not None:
        stmt = stmt.where(Quota.project_id == scope)
    with svc.db.session() as session:
        body = list_page(session, stmt, LISTING, params, base_url(request, svc),
                         svc.conf.api_settings.pagination_max_limit)
    return JSONResponse(body)


@router.get("/lbaas/quotas/defaults")
def get_defaults(request: Request) -> dict[str, Any]:
    """What clients call for the defaults; in Octavia it is the quota of the "project" named defaults."""
    values = actions.show_defaults(services(request), context(request), DEFAULTS_PROJECT, "quota:get_one")
    return {"quota": schema.to_wire(DEFAULTS_PROJECT, values)}


@router.get("/lbaas/quotas/{project_id}")
def get_quota(request: Request, project_id: str) -> dict[str, Any]:
    values = actions.show(services(request), context(request), project_id)
    return {"quota": schema.to_wire(project_id, values)}


@router.get("/lbaas/quotas/{project_id}/default")
def get_project_defaults(request: Request, project_id: str) -> dict[str, Any]:
    values = actions.show_defaults(services(request), context(request), project_id, "quota:get_defaults")
    return {"quota": schema.to_wire(project_id, values)}


@router.put("/lbaas/quotas/{project_id}", status_code=202)
def update_quota(request: Request, project_id: str, body: schema.QuotaPUTBody) -> dict[str, Any]:
    values = actions.update(services(request), context(request), project_id, body.quota)
    return {"quota": schema.to_wire(project_id, values)}


# An empty 202, as in Octavia (response_class: the document promises no JSON body).
@router.delete("/lbaas/quotas/{project_id}", status_code=202, response_class=Response)
def reset_quota(request: Request, project_id: str) -> Response:
    actions.reset(services(request), context(request), project_id)
    return Response(status_code=202)
