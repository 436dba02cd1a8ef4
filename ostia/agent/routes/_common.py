"""Helpers shared by the route modules."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from ostia.agent.errors import AgentError
from ostia.agent.files import is_safe_id, md5_hex


async def raw_body(request: Request) -> bytes:
    """The body as uploaded (configs, PEM files): routes that take it run sync in the threadpool."""
    return await request.body()


def ok(status: int = 200, details: str | None = None, etag_of: bytes | None = None) -> JSONResponse:
    body: dict[str, object] = {"message": "OK"}
    if details is not None:
        body["details"] = details
    headers = {"ETag": md5_hex(etag_of)} if etag_of is not None else None
    return JSONResponse(body, status_code=status, headers=headers)


def require_lb(lb_id: str, status: int = 404) -> str:
    # Ids become directory names: anything that is not a plain name is not a load balancer of ours.
    if not is_safe_id(lb_id):
        raise AgentError(status, "Loadbalancer Not Found" if status == 404 else "Invalid load balancer id")
    return lb_id
