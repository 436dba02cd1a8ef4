"""Bodies the resource routes share, so each route only names its path, status code, policy and root key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ostia.api.query import Listing, apply_fields, list_page
from ostia.api.routes.deps import base_url, context, fetch, query_params, services

T = TypeVar("T")
Wire = Callable[[Any], dict[str, Any]]


def shown(request: Request, root: str, wire: dict[str, Any]) -> dict[str, Any]:
    """A GET body: `{root: wire}` cut down to the `fields` the caller asked for."""
    return {root: apply_fields(wire, query_params(request))}


def get_owned(request: Request, model: type[T], ident: str, label: str, action: str, root: str,
              to_wire: Wire) -> dict[str, Any]:
    """GET of a project-owned row: 404 if missing, then the policy check against the row's project."""
    with fetch(request, model, ident, label, action) as (_, row):
        return shown(request, root, to_wire(row))


def get_catalog(request: Request, action: str, load: Callable[[Session], Any], root: str,
                to_wire: Wire) -> dict[str, Any]:
    """GET of a catalog row (flavor, AZ, profiles): no owner, so the policy is checked before the lookup,
    against the caller's own project."""
    svc, ctx = services(request), context(request)
    svc.policy.authorize(ctx, action, ctx.project_id)
    with svc.db.session() as session:
        wire = to_wire(load(session))
    return shown(request, root, wire)


def stored(request: Request, model: type[T], ident: str, root: str, to_wire: Wire) -> dict[str, Any]:
    """The body after a write whose action returns only the id: the row as committed, read afresh."""
    with services(request).db.session() as session:
        return {root: to_wire(session.get_one(model, ident))}



def list_children(request: Request, session: Session, stmt: Any, listing: Listing) -> JSONResponse:
    """A sub-collection (a pool's members, a policy's rules): the parent's policy check already scoped it,
    so `project_id` is an ordinary filter, and `tenant_id` its alias (§1.3)."""
    svc = services(request)
    params = query_params(request)
    if "tenant_id" in params:
        params.setdefault("project_id", params.pop("tenant_id"))
    body = list_page(session, stmt, listing, params, base_url(request, svc), svc.conf.api_settings.pagination_max_limit)
    # Plain JSON: the body is already wire-shaped (as in deps.list_resource).
    return JSONResponse(body)
