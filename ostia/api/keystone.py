"""Keystone mode (§7.1): keystonemiddleware's auth_token validates X-Auth-Token in front of the ASGI app.

auth_token is a WSGI filter. Rather than running the whole app under WSGI, each request is shown to it as a
minimal WSGI environ that carries only the token headers; an inner WSGI app records the identity headers it
sets. Token validation, caching and the 401 answer are therefore keystonemiddleware's; the identity the API
sees comes only from it, never from headers the client sent.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from keystonemiddleware.auth_token import AuthProtocol
from oslo_config import cfg
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from ostia.api.context import RequestContext
from ostia.api.dashboard import is_dashboard_path

# Version discovery and the health check are public (§1.1, §7.1).
PUBLIC_PATHS = frozenset({"/", "/healthcheck", "/load-balancer", "/load-balancer/"})

# The only request headers auth_token gets to see: its inputs.
TOKEN_HEADERS = ("x-auth-token", "x-storage-token", "x-service-token")

# Identity headers auth_token would set; a client sending them is ignored (they are removed before the app).
_IDENTITY_PREFIXES = ("x-identity-status", "x-service-identity-status", "x-project-", "x-tenant", "x-user",
                      "x-domain-", "x-default-project-", "x-role", "x-is-admin-project", "x-service-catalog",
                      "x-service-project-", "x-service-user-", "x-service-domain-", "x-service-roles",
                      "openstack-system-scope", "x-trust-", "x-app-cred")

_PASSED = "ostia.auth.passed"
UNAUTHORIZED = json.dumps({"error": {"code": 401, "title": "Unauthorized",
                                     "message": "The request you have made requires authentication."}}).encode()

WsgiStartResponse = Callable[..., Any]


def _is_identity_header(name: bytes) -> bool:
    return name.decode("latin-1").lower().startswith(_IDENTITY_PREFIXES)


def _passed(environ: dict[str, Any], start_response: WsgiStartResponse) -> Iterable[bytes]:
    """The app behind auth_token: reached only when the token was accepted; the environ holds the identity."""
    environ[_PASSED] = True
    start_response("204 No Content", [])
    return [b""]


def wsgi_environ(scope: Scope) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"], "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": scope["path"], "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}", "REMOTE_ADDR": str(client[0]),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"), "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        key = "HTTP_" + name.upper().replace("-", "_")
        if name in TOKEN_HEADERS and key not in environ:
            environ[key] = raw_value.decode("latin-1")
    return environ


def context_from_environ(environ: dict[str, Any]) -> RequestContext:
    """The identity auth_token confirmed. is_admin stays False: admin rights come from roles through policy."""
    roles = tuple(r.strip() for r in environ.get("HTTP_X_ROLES", "").split(",") if r.strip())
    return RequestContext(project_id=environ.get("HTTP_X_PROJECT_ID") or None,
                          user_id=environ.get("HTTP_X_USER_ID") or None, roles=roles, is_admin=False,
                          auth_token=environ.get("HTTP_X_AUTH_TOKEN") or environ.get("HTTP_X_STORAGE_TOKEN"))


class KeystoneAuthMiddleware:
    def __init__(self, app: ASGIApp, conf: cfg.ConfigOpts) -> None:
        self.app = app
        # Reads [keystone_authtoken] (and registers its options) on our own ConfigOpts, not the global CONF.
        self.auth_token = AuthProtocol(_passed, {"oslo_config_config": conf})

    def authenticate(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """None if the token is valid (identity left in `environ`), else auth_token's own response."""
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), headers

        chunks = self.auth_token(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if not environ.get(_PASSED):
            return answer.get("status", 401), answer.get("headers", []), body
        if environ.get("HTTP_X_IDENTITY_STATUS") == "Confirmed":
            return None
        # Only with delay_auth_decision: auth_token let an unauthenticated request through; the API needs one.
        return 401, [("Content-Type", "application/json"), *self.auth_token._reject_auth_headers], UNAUTHORIZED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if not _is_identity_header(k)]
        scope = dict(scope, headers=headers)
        # The dashboard's static files are public: its pages send the token with every API call they make.
        if scope["path"] in PUBLIC_PATHS or scope["path"].startswith("/healthcheck/") \
                or is_dashboard_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        environ = wsgi_environ(scope)
        refusal = await run_in_threadpool(self.authenticate, environ)
        if refusal is not None:
            status, out_headers, body = refusal
            await send({"type": "http.response.start", "status": status,
                        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out_headers]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["context"] = context_from_environ(environ)
        await self.app(scope, receive, send)
