"""`/metrics` in front of the API, outside the Keystone filter, and the API latency histogram.

Prometheus scrapers carry no Keystone token, so /metrics asks for none; instead it answers only sources in
`[api_settings] metrics_allowed_cidrs` (loopback by default: an operator adds the scrapers' networks) and
everyone else gets Octavia's 403 fault. Every other request is timed and labelled with its route template
(`/v2/lbaas/loadbalancers/{lb_id}`), never the raw path, so ids do not become label values.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostia.api.faults import fault_body
from ostia.metrics.instruments import API_SECONDS

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
# Any token is a method on the wire: only these become label values, so clients cannot grow the series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidrs(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


class RouteTemplates:
    """Path → the route template it matches, from the app's OpenAPI paths (a public view of its routes);
    `/v2.0/...` counts as `/v2/...`. Paths no template matches share one label."""

    def __init__(self, paths: Callable[[], Iterable[str]]) -> None:
        self._paths = paths
        self._literal: dict[str, str] | None = None
        # By segment count: a path is only tried against templates as deep as itself.
        self._patterns: dict[int, list[tuple[re.Pattern[str], str]]] = {}

    def _load(self) -> dict[str, str]:
        templates = list(self._paths())
        for t in sorted(templates, key=lambda t: t.count("{")):
            if "{" in t:
                pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$")
                self._patterns.setdefault(t.count("/"), []).append((pattern, t))
        return {t: t for t in templates if "{" not in t}

    def __call__(self, path: str) -> str:
        if self._literal is None:
            self._literal = self._load()
        path = path[:-5] if path.endswith(".json") else path
        if path.startswith("/v2.0/"):
            path = "/v2/" + path[6:]
        literal = self._literal.get(path)
        if literal is not None:
            return literal
        for pattern, template in self._patterns.get(path.count("/"), ()):
            if pattern.match(path):
                return template
        return UNMATCHED


class MetricsEndpoint:
    def __init__(self, app: ASGIApp, templates: Callable[[str], str], registry: CollectorRegistry,
                 allowed: list[Network]) -> None:
        self.app = app
        self.templates = templates
        self.registry = registry
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH:
            await self._metrics(scope, send)
            return
        started = time.perf_counter()
        status = [500]  # an exception escaping the app is what the client sees as a 500

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            API_SECONDS.labels(method, self.templates(scope["path"]), str(status[0])) \
                .observe(time.perf_counter() - started)

    def _allowed(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not self.allowed:
            return True
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # an IPv4 client of a dual-stack ("::") listener
        return any(address in net for net in self.allowed if net.version == address.version)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        if not self._allowed(scope):
            body = json.dumps(fault_body("Policy does not allow this request to be performed.", 403)).encode()
            await _reply(send, 403, "application/json", body)
            return
        # The database collector queries: off the event loop.
        await _reply(send, 200, CONTENT_TYPE_LATEST, await run_in_threadpool(generate_latest, self.registry))


async def _reply(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
