"""The agent's FastAPI app: one `Agent` (settings + managers) in app.state, routes in ostia/agent/routes/.

Errors: route-level failures raise AgentError → {"message", "details"} (Octavia's agent bodies); anything the
framework rejects (unknown path, wrong method, unparsable JSON) → {"error", "http_code"} like werkzeug's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ostia.agent.errors import AgentError
from ostia.agent.haproxy import HaproxyManager
from ostia.agent.heartbeat_sender import HeartbeatSender
from ostia.agent.interfaces import Interfaces
from ostia.agent.keepalived import Keepalived
from ostia.agent.settings import AgentSettings
from ostia.drivers.certificates.tls import ReloadableServerContext
from ostia.files import write_private

LOG = logging.getLogger(__name__)
API_VERSION = "1.0"

try:
    from ostia.agent.udp import UdpService
except ImportError:  # the UDP module is optional: without it no UDP routes exist and no id is a UDP listener
    UdpService = None  # type: ignore[assignment,misc]

PING_WRAPPER = """#!/bin/sh
# HAProxy external-check for PING health monitors (written by the Ostia agent).
# HAProxy passes the server address in $HAPROXY_SERVER_ADDR and as argument 3, and runs this with an
# empty PATH, hence the absolute ping. The exit status is the check result.
addr="${HAPROXY_SERVER_ADDR:-$3}"
case "$addr" in
    *:*) exec %(ping)s -6 -q -n -c1 -W1 "$addr" >/dev/null 2>&1 ;;
    *) exec %(ping)s -4 -q -n -c1 -W1 "$addr" >/dev/null 2>&1 ;;
esac
"""


@dataclass
class Agent:
    settings: AgentSettings
    # The server's TLS context: PUT /1.0/certificate and PUT /1.0/ca_bundle reload it for new handshakes.
    tls: ReloadableServerContext | None = None
    haproxy: HaproxyManager = field(init=False)
    interfaces: Interfaces = field(init=False)
    keepalived: Keepalived = field(init=False)
    udp: Any = field(init=False)
    heartbeat: HeartbeatSender = field(init=False)

    def __post_init__(self) -> None:
        self.haproxy = HaproxyManager(self.settings)
        self.interfaces = Interfaces(self.settings)
        self.keepalived = Keepalived(self.settings)
        ns = self.settings.network_namespace or None
        self.udp = UdpService(self.settings.base_path, ns) if UdpService is not None else None
        self.heartbeat = HeartbeatSender(self.settings, self.haproxy, self.keepalived, self.udp)

    def prepare_dirs(self) -> None:
        """What the rendered haproxy.cfg expects to exist: base_path, cert_path and the ping wrapper."""
        s = self.settings
        s.base_path.mkdir(parents=True, exist_ok=True)
        # HAProxy workers drop to `nobody` and must reach the ping wrapper; certificates stay root-only
        # (HAProxy reads them as root before dropping privileges).
        os.chmod(s.base_path, 0o755)
        s.cert_path.mkdir(mode=0o700, exist_ok=True)
        ping = shutil.which("ping") or "/usr/bin/ping"
        write_private(s.ping_wrapper, (PING_WRAPPER % {"ping": ping}).encode(), mode=0o755)

    def write_pid(self) -> None:
        pid_file = self.settings.pid_file
        if pid_file is not None:
            pid_file.parent.mkdir(parents=True, exist_ok=True)
            pid_file.write_text(f"{os.getpid()}\n")

    def remove_pid(self) -> None:
        pid_file = self.settings.pid_file
        with contextlib.suppress(OSError, ValueError):
            if pid_file is not None and int(pid_file.read_text().split()[0]) == os.getpid():
                pid_file.unlink()

    def owns_udp(self, listener_id: str) -> bool:
        return self.udp is not None and bool(self.udp.owns(listener_id))


def get_agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


def create_app(agent: Agent) -> FastAPI:
    from ostia.agent.routes import certificates, loadbalancer, plug, system, vrrp

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        agent.write_pid()
        if agent.udp is not None:
            agent.udp.start()
        agent.heartbeat.start()  # after the UDP listeners are resumed, so the first beat reports them
        try:
            yield
        finally:
            agent.heartbeat.stop()
            # HAProxy, keepalived and nginx keep serving: the next agent adopts them. Cleanup happens here,
            # not after the server returns: uvicorn re-raises SIGTERM once it has shut down.
            if agent.udp is not None:
                agent.udp.stop()
            agent.remove_pid()

    agent.prepare_dirs()
    app = FastAPI(title="Ostia amphora agent", version=API_VERSION, lifespan=lifespan, openapi_url=None,
                  docs_url=None, redoc_url=None)
    app.state.agent = agent

    @app.exception_handler(AgentError)
    async def _agent_error(_: Request, exc: AgentError) -> JSONResponse:
        if exc.status >= 500:
            LOG.error("%s: %s", exc.message, exc.details)
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail, "http_code": exc.status_code}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": f"Bad Request: {exc.errors()}", "http_code": 400}, status_code=400)

    # Certificates before haproxy: PUT /loadbalancer/{lb}/certificates/{f} and
    # PUT /loadbalancer/{amp}/{lb}/haproxy have the same shape.
    for module in (system, certificates, loadbalancer, plug, vrrp):
        app.include_router(module.router)
    if agent.udp is not None:
        app.include_router(agent.udp.router)
    return app
