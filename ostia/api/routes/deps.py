"""Small request helpers shared by the thin route modules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from ostia.api.actions.common import get_or_404
from ostia.api.context import RequestContext
from ostia.api.query import Listing, list_page, parse_bool
from ostia.api.services import ApiServices
from ostia.domain import errors

T = TypeVar("T")


def services(request: Request) -> ApiServices:
    svc: ApiServices = request.app.state.services
    return svc


def context(request: Request) -> RequestContext:
    ctx: RequestContext | None = getattr(request.state, "context", None)
    if ctx is None:  # keystone middleware refused or did not run: never reached in practice
        raise errors.NotAuthorized()
    return ctx


def query_params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def base_url(request: Request, svc: ApiServices) -> str:
    root = svc.conf.api_settings.api_base_uri
    if root:
        return root.rstrip("/") + request.url.path
    return str(request.url.replace(query=""))


def routed_parent(request: Request, model: type[T], ident: str, label: str) -> T:
    """The parent named in a sub-collection's URL (a pool's members, a policy's rules). Octavia resolves it while
    routing, so a missing one is a plain webob 404, not a fault body."""
    with services(request).db.session() as session:
        row = session.get(model, ident)
        if row is None:
            raise HTTPException(status_code=404, detail=f"{label} {ident} not found.")
        return row


def flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    return bool(raw is not None and parse_bool(raw))


def list_resource(request: Request, stmt: Any, listing: Listing, policy_prefix: str,
                  project_column: Any | None, global_action: bool = True) -> Any:
    """Project scoping (§5, §7) then filters/sort/pagination.

    Own project needs `<prefix>:get_all`; all projects (or another one) needs `<prefix>:get_all-global`.
    noauth callers are admins and see every project unless they pass `project_id`.
    """
    svc, ctx = services(request), context(request)
    params = query_params(request)
    requested = params.get("project_id", params.get("tenant_id", [None]))[-1]
    params.pop("tenant_id", None)
    if project_column is not None:
        wants_global = requested is None or requested != ctx.project_id
        sees_all = not svc.policy.enforce_enabled or (
            wants_global and global_action and svc.policy.allowed(ctx, f"{policy_prefix}:get_all-global", None))
        if sees_all:
            if requested:
                stmt = stmt.where(project_column == requested)
        else:
            # Like Octavia: without global read, `get_all` is checked against the requested project (own by
            # default), so asking for another project is a 403, and a token without a project sees nothing.
            scope_project = requested or ctx.project_id
            if scope_project is None:
                raise errors.NotAuthorized()
            svc.policy.authorize(ctx, f"{policy_prefix}:get_all", scope_project)
            stmt = stmt.where(project_column == scope_project)
        params.pop("project_id", None)
    else:
        svc.policy.authorize(ctx, f"{policy_prefix}:get_all", ctx.project_id)
    with svc.db.session() as session:
        body = list_page(session, stmt, listing, params, base_url(request, svc),
                         svc.conf.api_settings.pagination_max_limit)
    # Plain JSON: the body is already wire-shaped, FastAPI's encoder pass would only cost time.
    return JSONResponse(body)


@contextlib.contextmanager
def fetch(request: Request, model: type[T], ident: str, label: str, action: str,
          project: Callable[[T], str | None] = lambda row: row.project_id,  # type: ignore[attr-defined]
          ) -> Iterator[tuple[Session, T]]:
    """A read: the row (404 if missing) after the policy check on its owning project."""
    svc, ctx = services(request), context(request)
    with svc.db.session() as session:
        row = get_or_404(session, model, ident, label)
        svc.policy.authorize(ctx, action, project(row))
        yield session, row
