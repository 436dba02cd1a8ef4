"""Pure ASGI middleware: request ids, `.json` suffix, Accept check, body limit, identity (noauth)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostia.api.context import from_noauth_headers
from ostia.api.dashboard import is_dashboard_path
from ostia.api.faults import fault_body
from ostia.api.query import BAD_FILTER

OPENAPI_PATH = "/openapi.json"  # served as is; every other `.json` suffix is dropped (§1.1)


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, noauth: bool, noauth_admin: bool = True) -> None:
        self.app = app
        self.max_body = max_body
        self.noauth = noauth
        self.noauth_admin = noauth_admin  # False for the "testing" strategy: header identity, real policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        if path.endswith(".json") and path != OPENAPI_PATH:
            scope = dict(scope, path=path[:-5], raw_path=path[:-5].encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-openstack-request-id", request_id.encode())]
            await send(message)

        accept = headers.get("accept", "").strip()
        # A browser loading the dashboard's pages asks for text/html, CSS and scripts; only the API is JSON-only.
        if accept and not _accepts_json(accept) and not is_dashboard_path(path):
            body = {"errors": [{"status": 406, "title": "Not Acceptable", "request_id": request_id,
                                "detail": "Only content type application/json is accepted."}]}
            await _json(send_with_id, 406, body)
            return
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            await _json(send_with_id, 413, fault_body("Request is too large.", 413))
            return
        # Every string input refuses NUL, so no id or name holds one; PostgreSQL would even refuse it as a query
        # parameter (a 500). Refused here once rather than before each of the many look-ups and filters.
        if "\x00" in scope["path"]:
            await _json(send_with_id, 404, {"code": "404 Not Found", "title": "Not Found",
                                            "message": "The resource could not be found."})
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            await _json(send_with_id, 400, fault_body(BAD_FILTER, 400))
            return
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        if self.noauth:
            state["context"] = from_noauth_headers(headers, request_id, admin=self.noauth_admin)
        await self.app(scope, receive, send_with_id)


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", "application/json", "") or media.endswith("+json"):
            return True
    return False


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})
