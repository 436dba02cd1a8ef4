"""Single-call ("fully populated") load balancer create (§2.12)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ostia.api.context import RequestContext
from ostia.api.schemas import load_balancer as lb_schema
from ostia.api.services import ApiServices
from ostia.db.models import LoadBalancer
from ostia.domain import errors


def add_children(svc: ApiServices, ctx: RequestContext, session: Session, lb: LoadBalancer,
                 listeners: list[dict[str, Any]], pools: list[dict[str, Any]]) -> None:
    raise errors.ProviderNotSupported(lb.provider or "amphora", "single-call create is not implemented yet")


def full_wire(lb: LoadBalancer) -> dict[str, Any]:
    return lb_schema.to_wire(lb)
