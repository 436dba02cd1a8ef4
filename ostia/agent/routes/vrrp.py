"""keepalived configuration upload and start/stop/reload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ostia.agent.app import Agent, get_agent
from ostia.agent.errors import AgentError
from ostia.agent.keepalived import release_stale_vips
from ostia.agent.routes._common import ok, raw_body

router = APIRouter()


@router.put("/1.0/vrrp/upload")
def upload(body: bytes = Depends(raw_body), agent: Agent = Depends(get_agent)) -> Any:
    agent.keepalived.upload(body)
    return ok(200, etag_of=body)


@router.get("/1.0/vrrp/status")
def vrrp_status(agent: Agent = Depends(get_agent)) -> Any:
    """Ostia's addition: whether keepalived runs here and which VIPs this amphora holds, so a load balancer
    failover can replace the amphora that does not serve first."""
    return {"keepalived_running": agent.keepalived.running(), "vips_held": agent.interfaces.held_vips()}


@router.put("/1.0/vrrp/{action}")
def vrrp_action(action: str, agent: Agent = Depends(get_agent)) -> Any:
    k = agent.keepalived
    handlers = {"start": k.start, "stop": k.stop, "reload": k.reload}
    handler = handlers.get(action.lower())
    if handler is None:
        raise AgentError(400, "Invalid Request", f"Unknown action: {action}")
    details = handler()
    if action.lower() == "stop":  # a keepalived that had to be SIGKILLed left its VIPs
        release_stale_vips(agent.settings, k, agent.interfaces)
    return ok(202, details)
