"""KeystoneAuthMiddleware without a Keystone: auth_token's `fetch_token` (its one call to Keystone) is replaced.

The real thing (tokens from a running Keystone, policy decisions) is tests/e2e/test_keystone.py; this checks
the adapter: which paths skip auth, that auth_token's 401 is relayed, and that the context comes from the
token alone, whatever identity headers the client sends.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from keystonemiddleware import auth_token
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from ostia import conf as conf_mod
from ostia.api.keystone import KeystoneAuthMiddleware

AUTH_URI = "http://127.0.0.1:9/v3"  # never contacted: the fixture replaces token validation


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the API: reports the context and the identity-looking headers it was given."""
    ctx = scope.get("state", {}).get("context")
    body = json.dumps({
        "context": None if ctx is None else {"project_id": ctx.project_id, "user_id": ctx.user_id,
                                             "roles": list(ctx.roles), "is_admin": ctx.is_admin,
                                             "auth_token": ctx.auth_token},
        "headers": sorted(k.decode() for k, _ in scope["headers"] if k.lower().startswith((b"x-r", b"x-p"))),
    }).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


class Tokens:
    """What Keystone would answer for each token id (a v3 token body); anything else is invalid."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, Any]] = {}

    def add(self, project_id: str, user_id: str, roles: list[str]) -> str:
        now = dt.datetime.now(dt.UTC)
        domain = {"id": "default", "name": "Default"}
        self.known[token := uuid.uuid4().hex] = {"token": {
            "methods": ["password"], "issued_at": now.isoformat(),
            "expires_at": (now + dt.timedelta(hours=1)).isoformat(),
            "user": {"id": user_id, "name": user_id, "domain": domain},
            "project": {"id": project_id, "name": project_id, "domain": domain},
            "roles": [{"id": uuid.uuid4().hex, "name": r} for r in roles], "catalog": []}}
        return token

    def fetch(self, token: str, **_: Any) -> dict[str, Any]:
        if token not in self.known:
            raise auth_token.InvalidToken("unknown token")
        return self.known[token]


@pytest.fixture
def auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Tokens]]:
    tokens = Tokens()
    monkeypatch.setattr(auth_token.AuthProtocol, "fetch_token", tokens.fetch)
    conf = conf_mod.load([], {"api_settings": {"auth_strategy": "keystone"}})
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    conf.set_override("www_authenticate_uri", AUTH_URI, group="keystone_authtoken")
    yield TestClient(KeystoneAuthMiddleware(echo, conf)), tokens


def test_public_paths_skip_auth(auth: tuple[TestClient, Tokens]) -> None:
    client, _ = auth
    for path in ("/", "/healthcheck", "/load-balancer/"):
        resp = client.get(path, headers={"X-Project-Id": "spoofed", "X-Roles": "admin"})
        assert resp.status_code == 200
        assert resp.json() == {"context": None, "headers": []}  # no identity, and the spoofed headers are gone


def test_missing_or_unknown_token_gets_auth_tokens_401(auth: tuple[TestClient, Tokens]) -> None:
    client, _ = auth
    for headers in ({}, {"X-Auth-Token": "unknown"},
                    {"X-Identity-Status": "Confirmed", "X-Project-Id": "p", "X-Roles": "admin"}):
        resp = client.get("/v2/lbaas/loadbalancers", headers=headers)
        assert resp.status_code == 401
        assert resp.json() == {"error": {"code": 401, "title": "Unauthorized",
                                         "message": "The request you have made requires authentication."}}
        assert resp.headers["www-authenticate"] == f'Keystone uri="{AUTH_URI}"'


def test_context_comes_from_the_token_only(auth: tuple[TestClient, Tokens]) -> None:
    client, tokens = auth
    token = tokens.add("proj-a", "user-a", ["load-balancer_member", "reader"])
    resp = client.get("/v2/lbaas/loadbalancers", headers={
        "X-Auth-Token": token, "X-Project-Id": "proj-b", "X-Tenant-Id": "proj-b", "X-Roles": "admin",
        "X-User-Id": "someone-else", "X-Identity-Status": "Confirmed"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["context"] == {"project_id": "proj-a", "user_id": "user-a",
                               "roles": ["load-balancer_member", "reader"], "is_admin": False, "auth_token": token}
    assert body["headers"] == []
