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
