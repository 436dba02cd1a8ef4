"""/v2/lbaas/providers and the providers' flavor / availability zone capabilities (§2.10)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ostia.api.actions import provider as actions
from ostia.api.query import apply_fields
from ostia.api.routes.deps import context, query_params, services
from ostia.api.routes.retrying import RetryingRoute

router = APIRouter(route_class=RetryingRoute)


@router.get("/lbaas/providers")
def list_providers(request: Request) -> dict[str, Any]:
    svc, ctx = services(request), context(request)
    svc.policy.authorize(ctx, "provider:get_all", ctx.project_id)
    params = query_params(request)
    items = [{"name": name, "description": description}
             for name, description in svc.conf.api_settings.enabled_provider_drivers.items()]
    return {"providers": [apply_fields(item, params) for item in items]}


def _capabilities(request: Request, provider: str, kind: str, action: str) -> list[dict[str, Any]]:
    svc, ctx = services(request), context(request)
    svc.policy.authorize(ctx, action, ctx.project_id)
    items = actions.capabilities(svc.conf, provider, kind)
    params = query_params(request)
    # Exact-match filters, the only ones Octavia applies to capability lists.
    for key in ("name", "description"):
        if params.get(key):
            items = [item for item in items if item[key] == params[key][-1]]
    return [apply_fields(item, params) for item in items]


@router.get("/lbaas/providers/{provider}/flavor_capabilities")
def flavor_capabilities(request: Request, provider: str) -> dict[str, Any]:
    return {"flavor_capabilities": _capabilities(request, provider, "flavor", "provider-flavor:get_all")}


@router.get("/lbaas/providers/{provider}/availability_zone_capabilities")
def availability_zone_capabilities(request: Request, provider: str) -> dict[str, Any]:
    return {"availability_zone_capabilities": _capabilities(
        request, provider, "availability_zone", "provider-availability-zone:get_all")}
