"""The failover timeline of a load balancer (Ostia's addition to the API): admin only."""

from __future__ import annotations

from typing import Any

from ostia.api.actions.common import get_or_404
from ostia.api.context import RequestContext
from ostia.api.services import ApiServices
from ostia.db.models import LoadBalancer
from ostia.health import timeline


def failover_timeline(svc: ApiServices, ctx: RequestContext, lb_id: str) -> list[dict[str, Any]]:
    with svc.db.session() as session:
        lb = get_or_404(session, LoadBalancer, lb_id, "Load Balancer")
        svc.policy.authorize(ctx, "loadbalancer:get_failover_timeline", lb.project_id)
        return [timeline.to_wire(event) for event in timeline.events(session, lb.id)]
