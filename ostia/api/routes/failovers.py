"""GET /v2/lbaas/loadbalancers/{lb_id}/failover_timeline: what each failover of the LB went through."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ostia.api.actions import failovers as actions
from ostia.api.routes.deps import context, services
from ostia.api.routes.retrying import RetryingRoute

router = APIRouter(route_class=RetryingRoute)


@router.get("/lbaas/loadbalancers/{lb_id}/failover_timeline")
def failover_timeline(request: Request, lb_id: str) -> dict[str, Any]:
    return {"failover_timeline": actions.failover_timeline(services(request), context(request), lb_id)}
